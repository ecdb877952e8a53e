// Foundation (issue 2): the real binary on port 0, on SQLite and PostgreSQL: system routes,
// items, bad input, configuration and shutdown.
#include "harness.hpp"
#include "support/test_paths.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <set>
#include <thread>

using namespace silo::itest;

namespace {

class Foundation : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override {
        SILO_REQUIRE_DATABASE(GetParam());
        ServerOptions o;
        o.db = GetParam();
        server = ServerProcess::start(o);
    }
    void TearDown() override {
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }
    HttpClient client() { return server->client(); }
    std::unique_ptr<ServerProcess> server;
};

std::string param_name(const ::testing::TestParamInfo<Db>& info) { return db_name(info.param); }

TEST_P(Foundation, HealthReadyModules) {
    auto c = client();
    auto h = c.get("/health");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.js()["status"], "ok");
    EXPECT_FALSE(h.header("x-request-id").empty());
    auto r = c.get("/ready");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.js()["database"], "ok");
    EXPECT_EQ(r.js()["event_streams"], 0);
    auto m = c.get("/api/modules");
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.js()["sessions"]["enabled"], true);
    EXPECT_EQ(m.js()["sessions"]["force_release_requires_approval"], false);
}

TEST_P(Foundation, ItemLifecycle) {
    auto c = client();
    auto created = c.post_json("/api/items", {{"part_number", "F01-0001"}, {"description", "Hex bolt M6"}});
    ASSERT_EQ(created.status, 201) << created.body;
    auto item = created.js();
    EXPECT_EQ(item["part_number"], "F01-0001");
    EXPECT_EQ(item["item_type"], "part");
    EXPECT_EQ(item["revision"], 0);
    EXPECT_EQ(item["created_by"], "admin");
    EXPECT_EQ(item["id"].get<std::string>().size(), 36u);
    EXPECT_EQ(item["created_at"].get<std::string>().back(), 'Z');

    // Case-insensitive and percent-encoded lookups find the same item.
    for (const char* path : {"/api/items/F01-0001", "/api/items/f01-0001", "/api/items/F01%2D0001", "/api/items/%66%30%31-0001"}) {
        auto g = c.get(path);
        ASSERT_EQ(g.status, 200) << path;
        EXPECT_EQ(g.js()["id"], item["id"]) << path;
        EXPECT_EQ(g.js()["part_number"], "F01-0001") << "stored exactly as given";
    }
    auto by_id = c.get("/api/items/by-uuid/" + item["id"].get<std::string>());
    EXPECT_EQ(by_id.status, 200);
    EXPECT_EQ(by_id.js()["part_number"], "F01-0001");
    EXPECT_EQ(c.get("/api/items/by-uuid/not-a-uuid").status, 400);
    EXPECT_EQ(c.get("/api/items/by-uuid/00000000-0000-4000-8000-000000000000").status, 404);

    // Same number in another case is taken.
    auto dup = c.post_json("/api/items", {{"part_number", "f01-0001"}});
    EXPECT_EQ(dup.status, 409);
    EXPECT_EQ(dup.js()["error"], "conflict");

    auto upd = c.put_json("/api/items/f01-0001", {{"description", "Hex bolt M6x20"}, {"item_type", "assembly"}});
    ASSERT_EQ(upd.status, 200) << upd.body;
    EXPECT_EQ(upd.js()["description"], "Hex bolt M6x20");
    EXPECT_EQ(upd.js()["item_type"], "assembly");
    EXPECT_EQ(c.get("/api/items/F01-0001").js()["description"], "Hex bolt M6x20");

    auto del = c.del("/api/items/F01-0001");
    EXPECT_EQ(del.status, 204);
    EXPECT_EQ(c.get("/api/items/F01-0001").status, 404);
    EXPECT_EQ(c.get("/api/items/by-uuid/" + item["id"].get<std::string>()).status, 404);
    EXPECT_EQ(c.del("/api/items/F01-0001").status, 404);
    EXPECT_EQ(c.put_json("/api/items/F01-0001", {{"description", "x"}}).status, 404);
    // An archived number stays taken.
    EXPECT_EQ(c.post_json("/api/items", {{"part_number", "F01-0001"}}).status, 409);
}

TEST_P(Foundation, ListSearchAndPaging) {
    auto c = client();
    for (int i = 0; i < 12; ++i) {
        std::string pn = "LST-" + std::to_string(100 + i);
        auto r = c.post_json("/api/items", {{"part_number", pn}, {"description", i % 2 ? "Bracket 50%" : "Washer"}});
        ASSERT_EQ(r.status, 201) << r.body;
    }
    auto all = c.get("/api/items");
    EXPECT_EQ(all.status, 200);
    EXPECT_EQ(all.header("x-total-count"), "12");
    EXPECT_EQ(all.js().size(), 12u);
    EXPECT_EQ(all.js()[0]["part_number"], "LST-100");

    auto page = c.get("/api/items?limit=5&offset=10");
    EXPECT_EQ(page.js().size(), 2u);
    EXPECT_EQ(page.header("x-total-count"), "12");

    auto q = c.get("/api/items?q=bracket");
    EXPECT_EQ(q.header("x-total-count"), "6");
    auto pct = c.get("/api/items?q=50%25");
    EXPECT_EQ(pct.header("x-total-count"), "6") << "% is taken literally";
    auto underscore = c.get("/api/items?q=_");
    EXPECT_EQ(underscore.header("x-total-count"), "0") << "_ is taken literally";
    auto by_pn = c.get("/api/items?q=lst-10");
    EXPECT_EQ(by_pn.header("x-total-count"), "10");

    EXPECT_EQ(c.get("/api/items?limit=0").status, 400);
    EXPECT_EQ(c.get("/api/items?limit=1001").status, 400);
    EXPECT_EQ(c.get("/api/items?limit=abc").status, 400);
    EXPECT_EQ(c.get("/api/items?offset=-1").status, 400);
    EXPECT_EQ(c.get("/api/items?q=%zz").status, 400);
}

TEST_P(Foundation, GeneratedPartNumbersAreUniqueUnderConcurrency) {
    auto c = client();
    auto first = c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "F01"}, {"description", "bolt"}});
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(first.js()["part_number"], "F01-0001");
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "F01"}}).js()["part_number"], "F01-0002");
    // A hand-made number in the way is skipped, never duplicated.
    ASSERT_EQ(c.post_json("/api/items", {{"part_number", "f01-0003"}}).status, 201);
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "F01"}}).js()["part_number"], "F01-0004");
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "M01"}}).js()["part_number"], "M01-0001");

    constexpr int kThreads = 8, kEach = 10;
    std::vector<std::vector<std::string>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            HttpClient tc(server->port());
            for (int i = 0; i < kEach; ++i) {
                auto r = tc.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "S01"}});
                if (r.status == 201) got[t].push_back(r.js()["part_number"]);
            }
        });
    for (auto& th : threads) th.join();
    std::set<std::string> all;
    for (auto& v : got) all.insert(v.begin(), v.end());
    EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
    EXPECT_TRUE(all.count("S01-0001"));
    EXPECT_TRUE(all.count("S01-0080"));

    EXPECT_EQ(c.post_json("/api/items", {{"schema", "nope"}, {"category", "F01"}}).status, 400);
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "ZZZ"}}).status, 400);
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}}).status, 400);
}

TEST_P(Foundation, BadInputGetsClearErrorsAndWritesNothing) {
    auto c = client();
    auto expect_error = [](const HttpResult& r, int status, const std::string& code) {
        EXPECT_EQ(r.status, status) << r.body;
        auto j = r.js();
        ASSERT_TRUE(j.is_object()) << r.body;
        EXPECT_EQ(j["error"], code) << r.body;
        EXPECT_TRUE(j["message"].is_string() && !j["message"].get<std::string>().empty());
    };
    std::map<std::string, std::string> json_ct{{"Content-Type", "application/json"}};
    expect_error(c.request("POST", "/api/items", "{\"part_number\": ", json_ct), 400, "bad_request");
    expect_error(c.request("POST", "/api/items", "[1,2]", json_ct), 400, "bad_request");
    expect_error(c.request("POST", "/api/items", "\"str\"", json_ct), 400, "bad_request");
    expect_error(c.request("POST", "/api/items", "{\"part_number\":\"A\xff\"}", json_ct), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", 42}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", "OK-1"}, {"description", 7}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", "OK-1"}, {"item_type", "spaceship"}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", "has space"}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", std::string(65, 'A')}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", {{"part_number", "slash/no"}}), 400, "bad_request");
    expect_error(c.post_json("/api/items", json::object()), 400, "bad_request");
    expect_error(c.request("POST", "/api/items", "part_number=X", {{"Content-Type", "text/plain"}}), 415,
                 "unsupported_media_type");
    // A 2 MiB body is refused before it is read.
    std::string big = "{\"part_number\":\"BIG-1\",\"description\":\"" + std::string(2 * 1024 * 1024, 'x') + "\"}";
    expect_error(c.request("POST", "/api/items", big, json_ct), 413, "payload_too_large");
    // Routing errors.
    expect_error(c.get("/api/nothing-here"), 404, "not_found");
    auto m = c.request("PATCH", "/api/items");
    expect_error(m, 405, "method_not_allowed");
    EXPECT_NE(m.header("allow").find("GET"), std::string::npos);
    EXPECT_NE(m.header("allow").find("POST"), std::string::npos);
    expect_error(c.request("POST", "/health"), 405, "method_not_allowed");
    expect_error(c.get("/api/items/bad%zzpercent"), 400, "bad_request");
    expect_error(c.get("/api/items/" + std::string(65, 'A')), 404, "not_found");
    expect_error(c.put_json("/api/items/NOPE-1", {{"description", "x"}}), 404, "not_found");

    // Protocol-level abuse answers and closes; the server keeps serving.
    auto long_line = raw_request(server->port(), "GET /api/items?q=" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(long_line, 414, "uri_too_long");
    auto huge_line = raw_request(server->port(), "GET /" + std::string(40000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(huge_line, 414, "uri_too_long");
    auto big_headers = raw_request(server->port(), "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n");
    expect_error(big_headers, 431, "headers_too_large");
    auto garbage = raw_request(server->port(), "THIS IS NOT HTTP\r\n\r\n");
    expect_error(garbage, 400, "bad_request");
    auto truncated = raw_request(server->port(),
                                 "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"part_number\":\"TRUNC-1\"",
                                 std::chrono::milliseconds(500));
    EXPECT_EQ(truncated.status, 0) << "no answer to a body that never completes";

    auto list = c.get("/api/items");
    EXPECT_EQ(list.status, 200);
    EXPECT_EQ(list.header("x-total-count"), "0") << "bad input wrote nothing: " << list.body;
    EXPECT_EQ(c.get("/health").status, 200);
}

TEST_P(Foundation, KeepAliveAndRequestIds) {
    auto c = client();
    auto a = c.request("GET", "/health", "", {{"X-Request-Id", "client-chosen-42"}});
    EXPECT_EQ(a.header("x-request-id"), "client-chosen-42");
    auto b = c.get("/health");
    EXPECT_NE(b.header("x-request-id"), a.header("x-request-id"));
    // One log line per request, JSON, with the request id.
    auto log = server->log();
    EXPECT_NE(log.find("\"request_id\":\"client-chosen-42\""), std::string::npos) << log;
}

// Without auth every request runs as a synthetic admin that has no user row: its streams (the
// check after attach looks for an active user only when auth is on) stay open.
TEST_P(Foundation, EventStreamsStayOpenWithoutAuth) {
    auto c = client();
    auto ws = c.post_json("/api/workstations", {{"name", "bench-1"}, {"fingerprint", "fp-bench-1"}});
    ASSERT_EQ(ws.status, 201) << ws.body;
    SseClient s(server->port(), "/api/events?workstation_id=" + ws.js()["id"].get<std::string>());
    ASSERT_EQ(s.status(), 200) << s.error_body();
    ASSERT_EQ(c.post_json("/api/items", {{"part_number", "NA-1"}}).status, 201);
    auto first = s.next(std::chrono::seconds(5));
    ASSERT_TRUE(first) << "no event";
    EXPECT_EQ(first->event, "item.created") << first->raw;
    EXPECT_FALSE(s.closed_by_server(std::chrono::milliseconds(500))) << server->log();
    ASSERT_EQ(c.post_json("/api/items", {{"part_number", "NA-2"}}).status, 201);
    auto second = s.next(std::chrono::seconds(5));
    ASSERT_TRUE(second) << "the stream was closed";
    EXPECT_EQ(second->event, "item.created") << second->raw;
}

TEST_P(Foundation, GracefulShutdownClosesIdleConnectionsAndExitsZero) {
    int idle = connect_local(server->port(), std::chrono::seconds(5));
    ASSERT_GE(idle, 0);
    auto c = client();
    EXPECT_EQ(c.get("/health").status, 200);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(server->stop(SIGTERM), 0) << server->log();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    char buf[1];
    EXPECT_LE(::recv(idle, buf, 1, 0), 0) << "idle keep-alive connection closed";
    ::close(idle);
    server.reset();
}

INSTANTIATE_TEST_SUITE_P(Db, Foundation, ::testing::Values(Db::sqlite, Db::postgres), param_name);

// ---- command line and configuration (no database needed) ------------------------------------

TEST(CommandLine, HelpVersionAndPrintConfig) {
    auto help = run_silod({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.output.find("--config"), std::string::npos);
    auto ver = run_silod({"--version"});
    EXPECT_EQ(ver.exit_code, 0);
    EXPECT_NE(ver.output.find("silod "), std::string::npos);

    auto cfg = run_silod({"--print-config"}, {{"SILO_ADMIN_PASSWORD", "hunter2secret"},
                                             {"SILO_DATABASE_URL", "postgresql://u:pw123@h/db"},
                                             {"SILO_SERVER_PORT", "9191"}});
    ASSERT_EQ(cfg.exit_code, 0) << cfg.output;
    auto j = json::parse(cfg.output, nullptr, false);
    ASSERT_TRUE(j.is_object()) << cfg.output;
    EXPECT_EQ(j["server"]["port"], 9191);
    EXPECT_EQ(j["database"]["driver"], "sqlite");
    EXPECT_EQ(cfg.output.find("hunter2secret"), std::string::npos);
    EXPECT_EQ(cfg.output.find("pw123"), std::string::npos);

    auto routes = run_silod({"--print-routes"});
    ASSERT_EQ(routes.exit_code, 0) << routes.output;
    auto rj = json::parse(routes.output, nullptr, false);
    ASSERT_TRUE(rj.is_array());
    EXPECT_GE(rj.size(), 9u);
}

TEST(CommandLine, InvalidConfigStopsStartupWithOneClearLine) {
    auto dir = make_temp_dir("silod-badcfg");
    struct Case {
        std::string yaml;
        std::string expect;
    } cases[] = {
        {"server:\n  prot: 8080\n", "server.prot"},
        {"server:\n  port: eighty\n", "server.port"},
        {"server:\n  port: 70000\n", "server.port"},
        {"events:\n  heartbeat_seconds: 0\n", "events.heartbeat_seconds"},
        {"database:\n  driver: oracle\n", "database.driver"},
        {"database:\n  driver: postgres\n", "database.url"},
        {"server: [1, 2\n", "YAML"},
        {"nonsense_section:\n  a: 1\n", "nonsense_section"},
    };
    for (const auto& tc : cases) {
        write_file(dir + "/bad.yaml", tc.yaml);
        auto r = run_silod({"--config", dir + "/bad.yaml"}, {}, dir);
        EXPECT_NE(r.exit_code, 0) << tc.yaml;
        EXPECT_NE(r.output.find(tc.expect), std::string::npos) << tc.yaml << " -> " << r.output;
        EXPECT_NE(r.output.find("bad.yaml"), std::string::npos) << r.output;
        EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir + "/data")) << "nothing written for " << tc.yaml;
    }
    auto missing = run_silod({"--config", dir + "/absent.yaml"}, {}, dir);
    EXPECT_NE(missing.exit_code, 0);
    auto bad_env = run_silod({"--print-config"}, {{"SILO_SERVER_PORT", "x"}}, dir);
    EXPECT_NE(bad_env.exit_code, 0);
    EXPECT_NE(bad_env.output.find("SILO_SERVER_PORT"), std::string::npos) << bad_env.output;
    std::filesystem::remove_all(dir);
}

TEST(CommandLine, RunsWithNoConfigFileOnSqliteUnderData) {
    auto dir = make_temp_dir("silod-noconf");
    // No --config: defaults (./data under the working directory); SILO_SERVER_PORT=0 avoids 8080.
    auto out = dir + "/out.log";
    pid_t pid = fork();
    if (pid == 0) {
        int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(dir.c_str()) != 0) _exit(126);
        setenv("SILO_SERVER_PORT", "0", 1);
        const std::string bin = silo::test::silod_binary();
        execl(bin.c_str(), bin.c_str(), (char*)nullptr);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 1500 && port == 0; ++i) {
        std::istringstream log(read_file(out));
        std::string line;
        while (std::getline(log, line)) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_object() && j.value("msg", "") == "listening") port = j.value("port", 0);
        }
        if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GT(port, 0) << read_file(out);
    // Authentication is on; the first admin's generated password waits in a 0600 file.
    HttpClient anon(port);
    EXPECT_EQ(anon.get("/api/items").status, 401);
    auto pw_file = dir + "/data/files/initial-admin-password";
    auto pw = read_file(pw_file);
    ASSERT_FALSE(pw.empty()) << read_file(out);
    pw.pop_back();
    EXPECT_EQ(std::filesystem::status(pw_file).permissions() & std::filesystem::perms::group_read, std::filesystem::perms::none);
    EXPECT_EQ(read_file(out).find(pw), std::string::npos) << "the password is not logged";
    HttpClient c(port);
    c.default_headers["Authorization"] = "Bearer " + token_for(port, "admin", pw);
    EXPECT_EQ(c.post_json("/api/items", {{"schema", "kindred-rd"}, {"category", "F01"}}).js()["part_number"], "F01-0001");
    EXPECT_TRUE(std::filesystem::exists(dir + "/data/silo.db"));
    ::kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::filesystem::remove_all(dir);
}

}  // namespace
