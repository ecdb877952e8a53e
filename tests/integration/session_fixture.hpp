// The fixture of the edit-session tests (sessions, checkpoints and revisions, handoff and
// force-release): a server with auth on and short timers (heartbeat 1 s, sweep 1 s, grace
// 2 s), users, workstations, items, event streams that keep every frame they received, and
// small helpers. Every wait is bounded.
#pragma once

#include "harness.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace silo::itest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Headers = std::map<std::string, std::string>;

inline constexpr const char* kAdminPassword = "admin-Secret-Passw0rd";
inline constexpr int kGraceSeconds = 2;
inline constexpr int kSweepSeconds = 1;

// multipart/form-data bodies, built byte by byte (no code shared with the server).
inline constexpr const char* kBoundary = "----silo-test-boundary-7MA4YWxkTrZu0gW";

struct Part {
    std::string name;
    std::string value;
    std::string filename;  // non-empty: a file part
};

inline std::string multipart(const std::vector<Part>& parts, const std::string& boundary = kBoundary) {
    std::string body;
    for (const auto& p : parts) {
        body += "--" + boundary + "\r\n";
        body += "Content-Disposition: form-data; name=\"" + p.name + "\"";
        if (!p.filename.empty()) body += "; filename=\"" + p.filename + "\"\r\nContent-Type: application/octet-stream";
        body += "\r\n\r\n" + p.value + "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    return body;
}

inline Headers multipart_headers(const std::string& boundary = kBoundary) {
    return {{"Content-Type", "multipart/form-data; boundary=" + boundary}};
}

inline std::string param_name(const ::testing::TestParamInfo<Db>& info) { return db_name(info.param); }

inline std::string describe(const std::vector<SseEvent>& events) {
    std::string out;
    for (const auto& e : events) out += e.raw;
    return out.empty() ? "(no frames)" : out;
}

inline std::string str(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

inline bool is_rfc3339_utc(const json& v) {
    return v.is_string() && v.get<std::string>().size() >= 20 && v.get<std::string>().back() == 'Z' &&
           v.get<std::string>()[10] == 'T';
}

// SHA-256 of bytes by the system's sha256sum (independent of the server's code).
inline std::string sha256_of(const std::string& bytes) {
    auto dir = make_temp_dir("silo-sha");
    auto path = dir + "/blob";
    write_file(path, bytes);
    std::string out;
    if (FILE* p = ::popen(("sha256sum '" + path + "'").c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p)) out += buf;
        ::pclose(p);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return out.substr(0, out.find(' '));
}

// Deterministic bytes of every value 0..255 (NULs and CR/LF included).
inline std::string blob(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    unsigned x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 16);
    }
    return s;
}

// Regular files directly under dir (0 when it does not exist).
inline std::vector<fs::path> files_in(const std::string& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        if (it->is_regular_file()) out.push_back(it->path());
    return out;
}

// One event stream and every frame it received (heartbeats passed over).
struct Stream {
    std::string name;
    std::unique_ptr<SseClient> sse;
    std::vector<SseEvent> got;
    std::vector<bool> taken;  // got[i] was returned by a wait (parallel to got, may be shorter)

    static bool matches(const SseEvent& e, const std::string& type, const std::string& session_id) {
        if (e.event != type) return false;
        return session_id.empty() || str(e.js(), "session_id") == session_id;
    }
    // The next frame of `type` (for that session when given) that no earlier wait returned,
    // received before or within timeout: two waits for one type see two frames.
    std::optional<SseEvent> wait_for(const std::string& type, const std::string& session_id = "",
                                     std::chrono::milliseconds timeout = 5s) {
        return wait_until([&](const SseEvent& e) { return matches(e, type, session_id); }, timeout);
    }
    // The same for a frame of `type` about one part number (a canary: an item.created of a new
    // item, which every stream gets after everything committed before it).
    std::optional<SseEvent> wait_for_item(const std::string& type, const std::string& part_number,
                                          std::chrono::milliseconds timeout = 10s) {
        return wait_until([&](const SseEvent& e) { return e.event == type && str(e.js(), "part_number") == part_number; },
                          timeout);
    }
    std::optional<SseEvent> wait_until(const std::function<bool(const SseEvent&)>& want,
                                       std::chrono::milliseconds timeout) {
        taken.resize(got.size(), false);
        for (std::size_t i = 0; i < got.size(); ++i)
            if (!taken[i] && want(got[i])) {
                taken[i] = true;
                return got[i];
            }
        auto deadline = Clock::now() + timeout;
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            auto e = sse->next(left);
            if (!e) return std::nullopt;
            got.push_back(*e);
            taken.push_back(false);
            if (want(*e)) {
                taken.back() = true;
                return e;
            }
        }
    }
    // Reads whatever arrives within window.
    void drain(std::chrono::milliseconds window) {
        for (auto& e : sse->collect(window)) got.push_back(std::move(e));
    }
    std::vector<SseEvent> of(const std::string& type, const std::string& session_id = "") const {
        std::vector<SseEvent> out;
        for (const auto& e : got)
            if (matches(e, type, session_id)) out.push_back(e);
        return out;
    }
    // Frames whose type starts with "edit.".
    std::vector<SseEvent> edit_events() const {
        std::vector<SseEvent> out;
        for (const auto& e : got)
            if (e.event.rfind("edit.", 0) == 0) out.push_back(e);
        return out;
    }
    std::string all() const { return name + ": " + describe(got); }
};

class SessionTest : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override { SILO_REQUIRE_DATABASE(GetParam()); }
    void TearDown() override {
        streams.clear();
        if (other) {
            EXPECT_EQ(other->stop(), 0) << other->log();
        }
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }

    ServerOptions options(Headers env = {}) const {
        ServerOptions o;
        o.db = GetParam();
        o.auth_enabled = true;
        o.env = {{"SILO_ADMIN_USERNAME", "admin"}, {"SILO_ADMIN_PASSWORD", kAdminPassword}};
        for (auto& [k, v] : env) o.env[k] = v;
        o.extra_yaml = "events:\n  heartbeat_seconds: 1\n"
                       "modules:\n  sessions:\n"
                       "    sweep_interval_seconds: " + std::to_string(kSweepSeconds) + "\n"
                       "    disconnect_grace_seconds: " + std::to_string(kGraceSeconds) + "\n";
        return o;
    }
    void boot(Headers env = {}) {
        server = ServerProcess::start(options(std::move(env)));
        admin_token = token_for(port(), "admin", kAdminPassword);
    }
    int port() const { return server->port(); }
    HttpClient admin() const { return as(port(), admin_token); }

    std::string make_user(const std::string& name, const std::string& role) {
        auto r = admin().post_json("/api/admin/users",
                                   {{"username", name}, {"password", name + "-password-1"}, {"role", role}});
        EXPECT_EQ(r.status, 201) << r.body;
        return token_for(port(), name, name + "-password-1");
    }
    std::string register_ws(const std::string& token, const std::string& name) {
        auto r = as(port(), token).post_json("/api/workstations", {{"name", name}, {"fingerprint", "fp-" + name}});
        EXPECT_EQ(r.status, 201) << r.body;
        return str(r.js(), "id");
    }
    std::string make_item(const std::string& pn) {
        auto r = admin().post_json("/api/items", {{"part_number", pn}});
        EXPECT_EQ(r.status, 201) << r.body;
        return str(r.js(), "id");
    }
    // Opens GET /api/events[query] as token's user; the stream is kept by the fixture.
    Stream& open(const std::string& name, const std::string& token, const std::string& query = "", int on_port = 0) {
        auto s = std::make_unique<Stream>();
        s->name = name;
        s->sse = std::make_unique<SseClient>(on_port ? on_port : port(), "/api/events" + query,
                                             Headers{{"Authorization", "Bearer " + token}});
        EXPECT_EQ(s->sse->status(), 200) << name << ": " << s->sse->error_body();
        streams.push_back(std::move(s));
        return *streams.back();
    }

    // Everything committed so far has reached these streams: a new item is created (everyone
    // gets item.created, after every event committed before it) and each stream waits for it.
    // An absence check after settle() is sound: a stream the server closed silently never sees
    // the canary, and nothing committed before it can still be on its way.
    void settle(std::initializer_list<Stream*> which) {
        const std::string pn = "CANARY-" + std::to_string(++canaries_);
        make_item(pn);
        for (auto* s : which) ASSERT_TRUE(s->wait_for_item("item.created", pn)) << "the canary: " << s->all();
    }

    static json acquire_body(const std::string& ws, const std::string& level, const std::string& object,
                             std::optional<std::vector<std::string>> cone = std::nullopt) {
        json b{{"workstation_id", ws}, {"context_level", level}, {"object_id", object}};
        if (cone) b["dependency_cone"] = *cone;
        return b;
    }
    static HttpResult acquire(HttpClient& c, const std::string& pn, const json& body) {
        return c.post_json("/api/items/" + pn + "/edit-sessions", body);
    }
    // Acquires and expects 200; returns the answer.
    json acquire_ok(const std::string& token, const std::string& pn, const std::string& ws, const std::string& level,
                    const std::string& object, std::optional<std::vector<std::string>> cone = std::nullopt) {
        auto c = as(port(), token);
        auto r = acquire(c, pn, acquire_body(ws, level, object, cone));
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    HttpResult release(const std::string& token, const std::string& pn, const std::string& id) {
        return as(port(), token).del("/api/items/" + pn + "/edit-sessions/" + id);
    }
    HttpResult put_work(const std::string& token, const std::string& pn, const std::string& id, const std::string& body,
                        const std::string& content_type = "application/octet-stream") {
        return as(port(), token).request("PUT", "/api/items/" + pn + "/edit-sessions/" + id + "/work", body,
                                         {{"Content-Type", content_type}});
    }
    // POST /api/items/{pn}/checkpoints (multipart: context, base_revision, file, session_id).
    HttpResult push_checkpoint(const std::string& token, const std::string& pn, const std::string& bytes,
                               const std::string& context = "manual", const std::string& base_revision = "0",
                               const std::string& session_id = "") {
        std::vector<Part> parts{{"context", context, ""}, {"base_revision", base_revision, ""},
                                {"file", bytes, "part.FCStd"}};
        if (!session_id.empty()) parts.push_back({"session_id", session_id, ""});
        return as(port(), token).request("POST", "/api/items/" + pn + "/checkpoints", multipart(parts),
                                         multipart_headers());
    }
    json list_item(const std::string& token, const std::string& pn) {
        auto r = as(port(), token).get("/api/items/" + pn + "/edit-sessions");
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    long count(const std::string& sql) const {
        auto rows = server->sql(sql);
        return rows.empty() ? -1 : std::stol(rows.front());
    }
    long session_rows() const { return count("SELECT COUNT(*) FROM edit_sessions"); }
    // Audit rows of an action (for one session when given), through GET /api/audit.
    json audit(const std::string& action, const std::string& session_id = "") {
        std::string q = "/api/audit?action=" + action + "&limit=500";
        if (!session_id.empty()) q += "&resource_type=edit_session&resource_id=" + session_id;
        auto r = admin().get(q);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    // A workstation's presence columns, for failure messages.
    std::string describe_presence(const std::string& ws) const {
        auto rows = server->sql("SELECT COALESCE(CAST(disconnected_at AS TEXT), 'NULL') || ' last_seen ' || "
                                "COALESCE(CAST(last_seen AS TEXT), 'NULL') FROM workstations WHERE id = '" + ws + "'");
        return rows.empty() ? "(no workstation)" : rows.front();
    }
    // The server's log lines about presence and sessions, for failure messages.
    std::string presence_log() const {
        std::string out, line;
        std::istringstream in(server->log());
        while (std::getline(in, line))
            if (line.find("session") != std::string::npos || line.find("workstation") != std::string::npos)
                out += line + "\n";
        return out;
    }
    std::string work_dir() const { return server->dir() + "/files/work"; }
    std::string upload_tmp_dir() const { return server->dir() + "/files/tmp"; }

    // Checks a session JSON (API §5) against what was asked for.
    static void expect_session(const json& s, const std::string& item_id, const std::string& pn,
                               const std::string& user, const std::string& ws, const std::string& level,
                               const std::string& object, const std::vector<std::string>& cone) {
        ASSERT_TRUE(s.is_object()) << s.dump();
        EXPECT_EQ(str(s, "id").size(), 36u) << s.dump();
        EXPECT_EQ(str(s, "item_id"), item_id) << s.dump();
        EXPECT_EQ(str(s, "part_number"), pn) << s.dump();
        EXPECT_EQ(str(s, "user"), user) << s.dump();
        EXPECT_EQ(str(s, "workstation_id"), ws) << s.dump();
        EXPECT_EQ(str(s, "context_level"), level) << s.dump();
        EXPECT_EQ(str(s, "object_id"), object) << s.dump();
        EXPECT_EQ(s.value("dependency_cone", json()), json(cone)) << s.dump();
        EXPECT_TRUE(is_rfc3339_utc(s.value("acquired_at", json()))) << s.dump();
        EXPECT_TRUE(is_rfc3339_utc(s.value("last_heartbeat", json()))) << s.dump();
    }

    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<ServerProcess> other;  // a second instance on the same PostgreSQL database
    std::string admin_token;
    std::vector<std::unique_ptr<Stream>> streams;
    int canaries_ = 0;
};

}  // namespace silo::itest
