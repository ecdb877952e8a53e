// Live events (issue 4): workstations, the SSE stream of GET /api/events, replay from the
// durable log (after a disconnect, after a restart, beyond retention), back-pressure, heartbeats,
// stream limits, bad input, vanishing clients, deactivation, shutdown, two instances on one
// PostgreSQL, and a real third-party SSE client (npm `eventsource`). Real binary, SQLite and
// PostgreSQL, auth enabled. API.md §3, §4, §11.
#include "harness.hpp"
#include "support/test_paths.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <sstream>
#include <thread>

using namespace silo::itest;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using Headers = std::map<std::string, std::string>;

constexpr const char* kAdminPassword = "admin-Secret-Passw0rd";

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// Every frame's raw text, for failure messages.
std::string describe(const std::vector<SseEvent>& events) {
    std::string out;
    for (const auto& e : events) out += e.raw;
    return out.empty() ? "(no frames)" : out;
}

// Up to n frames (heartbeats passed over) within timeout; fewer on timeout or end of stream.
std::vector<SseEvent> take(SseClient& s, std::size_t n, std::chrono::milliseconds timeout) {
    std::vector<SseEvent> out;
    auto deadline = Clock::now() + timeout;
    while (out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        auto e = s.next(left);
        if (!e) break;
        out.push_back(std::move(*e));
    }
    return out;
}

std::string pn_of(const SseEvent& e) {
    auto j = e.js();
    return j.is_object() && j.contains("part_number") && j["part_number"].is_string()
               ? j["part_number"].get<std::string>()
               : "";
}

// /ready's event_streams (-1 when absent or not answered).
int ready_streams(HttpClient& c) {
    try {
        auto r = c.get("/ready");
        auto j = r.js();
        if (j.is_object() && j.contains("event_streams") && j["event_streams"].is_number_integer())
            return j["event_streams"].get<int>();
    } catch (const std::exception&) {
    }
    return -1;
}

// Polls /ready until event_streams == n (bounded); true when it got there.
bool wait_streams(int port, int n, std::chrono::milliseconds timeout) {
    HttpClient c(port, 3s);
    auto deadline = Clock::now() + timeout;
    while (true) {
        if (ready_streams(c) == n) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

json create(HttpClient& c, const std::string& pn, const std::string& description = "", const std::string& type = "") {
    json body{{"part_number", pn}};
    if (!description.empty()) body["description"] = description;
    if (!type.empty()) body["item_type"] = type;
    auto r = c.post_json("/api/items", body);
    EXPECT_EQ(r.status, 201) << pn << ": " << r.body;
    return r.js();
}

// Checks an item event's type, part number and (when given) exact id.
void expect_item_event(const SseEvent& e, const std::string& type, const std::string& pn,
                       std::optional<std::int64_t> id = std::nullopt) {
    EXPECT_EQ(e.event, type) << e.raw;
    EXPECT_EQ(pn_of(e), pn) << e.raw;
    EXPECT_TRUE(e.id.has_value()) << "item events carry an id: " << e.raw;
    if (id && e.id) {
        EXPECT_EQ(*e.id, *id) << e.raw;
    }
}

class Events : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override {
        SILO_REQUIRE_DATABASE(GetParam());
    }
    void TearDown() override {
        if (other) {
            EXPECT_EQ(other->stop(), 0) << other->log();
        }
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }

    // Server options: auth on, the admin from env, short timers; `events` keys override the
    // defaults (heartbeat_seconds: 1).
    ServerOptions options(std::map<std::string, std::string> events = {}) const {
        events.emplace("heartbeat_seconds", "1");
        ServerOptions o;
        o.db = GetParam();
        o.auth_enabled = true;
        o.env = {{"SILO_ADMIN_USERNAME", "admin"}, {"SILO_ADMIN_PASSWORD", kAdminPassword}};
        o.extra_yaml = "events:\n";
        for (const auto& [k, v] : events) o.extra_yaml += "  " + k + ": " + v + "\n";
        return o;
    }
    void boot(std::map<std::string, std::string> events = {}) {
        server = ServerProcess::start(options(std::move(events)));
        admin_token = token_for(port(), "admin", kAdminPassword);
    }
    int port() const { return server->port(); }

    // Creates a user through the admin API and returns an API token of theirs.
    std::string make_user(const std::string& name, const std::string& role) {
        auto admin = as(port(), admin_token);
        auto r = admin.post_json("/api/admin/users",
                                 {{"username", name}, {"password", name + "-password-1"}, {"role", role}});
        EXPECT_EQ(r.status, 201) << r.body;
        return token_for(port(), name, name + "-password-1");
    }
    // Registers a workstation; returns its id ("" on failure, with a test failure).
    std::string register_ws(const std::string& token, const std::string& name, const std::string& fingerprint) {
        auto r = as(port(), token).post_json("/api/workstations", {{"name", name}, {"fingerprint", fingerprint}});
        EXPECT_EQ(r.status, 201) << r.body;
        auto j = r.js();
        return j.is_object() && j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : "";
    }
    // Opens GET /api/events[query] as the token's user (on_port: another instance).
    std::unique_ptr<SseClient> open(const std::string& token, const std::string& query = "", Headers headers = {},
                                    int on_port = 0) {
        if (!token.empty()) headers["Authorization"] = "Bearer " + token;
        return std::make_unique<SseClient>(on_port ? on_port : port(), "/api/events" + query, headers);
    }

    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<ServerProcess> other;    // a second instance on the same database
    std::unique_ptr<ServerProcess> retired;  // the instance before a restart (owns the data dir)
    std::string admin_token;
};

std::string param_name(const ::testing::TestParamInfo<Db>& info) { return db_name(info.param); }

// ---------------------------------------------------------------------------------------------
// Workstations (API §4)

TEST_P(Events, WorkstationsRegisterIdempotentlyListOwnDeleteOwn) {
    boot();
    auto alice = as(port(), make_user("alice", "editor"));
    auto bob = as(port(), make_user("bob", "viewer"));

    auto r = alice.post_json("/api/workstations", {{"name", "alice-cad"}, {"fingerprint", "fp-alice-1"}});
    ASSERT_EQ(r.status, 201) << r.body;
    auto ws = r.js();
    ASSERT_TRUE(ws.is_object()) << r.body;
    ASSERT_TRUE(ws["id"].is_string()) << r.body;
    std::string a1 = ws["id"];
    EXPECT_EQ(a1.size(), 36u);
    EXPECT_EQ(ws["name"], "alice-cad");
    EXPECT_EQ(ws["fingerprint"], "fp-alice-1");
    EXPECT_TRUE(ws.contains("last_seen") && ws["last_seen"].is_null()) << "never connected yet: " << r.body;
    ASSERT_TRUE(ws["created_at"].is_string()) << r.body;
    EXPECT_EQ(ws["created_at"].get<std::string>().back(), 'Z');

    // The same user, the same fingerprint: 200, the same workstation.
    auto again = alice.post_json("/api/workstations", {{"name", "alice-cad"}, {"fingerprint", "fp-alice-1"}});
    EXPECT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.js().value("id", ""), a1);
    // Another user, that fingerprint: 409 (envelope).
    auto taken = bob.post_json("/api/workstations", {{"name", "bob-cad"}, {"fingerprint", "fp-alice-1"}});
    EXPECT_EQ(taken.status, 409) << taken.body;
    EXPECT_EQ(taken.js().value("error", ""), "conflict") << taken.body;

    auto b1 = bob.post_json("/api/workstations", {{"name", "bob-cad"}, {"fingerprint", "fp-bob-1"}});
    ASSERT_EQ(b1.status, 201) << b1.body;
    std::string b1_id = b1.js()["id"];
    auto a2r = alice.post_json("/api/workstations", {{"name", "alice-laptop"}, {"fingerprint", "fp-alice-2"}});
    ASSERT_EQ(a2r.status, 201) << a2r.body;
    std::string a2 = a2r.js()["id"];
    EXPECT_NE(a1, a2);

    // Each user lists only their own.
    auto ids_of = [](const HttpResult& res) {
        std::set<std::string> ids;
        auto j = res.js();
        if (j.is_array())
            for (const auto& w : j) ids.insert(w.value("id", ""));
        return ids;
    };
    auto la = alice.get("/api/workstations");
    ASSERT_EQ(la.status, 200) << la.body;
    ASSERT_TRUE(la.js().is_array()) << la.body;
    EXPECT_EQ(ids_of(la), (std::set<std::string>{a1, a2}));
    EXPECT_EQ(la.header("x-total-count"), "2");
    auto lb = bob.get("/api/workstations");
    ASSERT_EQ(lb.status, 200) << lb.body;
    EXPECT_EQ(ids_of(lb), (std::set<std::string>{b1_id}));

    // Delete: another user's 403, unknown 404, own 204 (then 404).
    auto foreign = bob.del("/api/workstations/" + a1);
    EXPECT_EQ(foreign.status, 403) << foreign.body;
    EXPECT_EQ(foreign.js().value("error", ""), "forbidden") << foreign.body;
    EXPECT_EQ(ids_of(alice.get("/api/workstations")), (std::set<std::string>{a1, a2}));
    auto unknown = alice.del("/api/workstations/00000000-0000-4000-8000-000000000001");
    EXPECT_EQ(unknown.status, 404) << unknown.body;
    EXPECT_EQ(unknown.js().value("error", ""), "not_found") << unknown.body;
    auto not_uuid = alice.del("/api/workstations/not-a-uuid");
    EXPECT_EQ(not_uuid.status, 404) << "an id that cannot exist names no workstation: " << not_uuid.body;
    EXPECT_EQ(not_uuid.js().value("error", ""), "not_found") << not_uuid.body;
    EXPECT_EQ(alice.del("/api/workstations/" + a2).status, 204);
    EXPECT_EQ(alice.del("/api/workstations/" + a2).status, 404);
    EXPECT_EQ(ids_of(alice.get("/api/workstations")), (std::set<std::string>{a1}));
    // Its fingerprint is free again: registering it makes a new workstation.
    auto re = alice.post_json("/api/workstations", {{"name", "alice-laptop"}, {"fingerprint", "fp-alice-2"}});
    EXPECT_EQ(re.status, 201) << re.body;
    EXPECT_NE(re.js().value("id", ""), a2);

    // Bad input: 400 with the envelope, nothing written.
    auto before = alice.get("/api/workstations").js().size();
    std::string s256(256, 'n'), s257(257, 'n');
    const std::vector<std::string> bad = {
        "{}",
        R"({"name":"x"})",
        R"({"fingerprint":"fp-x"})",
        R"({"name":1,"fingerprint":"fp-x"})",
        R"({"name":"x","fingerprint":2})",
        R"({"name":null,"fingerprint":"fp-x"})",
        R"({"name":"x","fingerprint":["fp-x"]})",
        R"({"name":"","fingerprint":"fp-x"})",
        R"({"name":"x","fingerprint":""})",
        json{{"name", s257}, {"fingerprint", "fp-x"}}.dump(),
        json{{"name", "x"}, {"fingerprint", s257}}.dump(),
        "{not json",
        "[]",
        "\"string\"",
    };
    for (const auto& body : bad) {
        auto res = alice.request("POST", "/api/workstations", body, {{"Content-Type", "application/json"}});
        EXPECT_EQ(res.status, 400) << body.substr(0, 80) << " -> " << res.body;
        EXPECT_EQ(res.js().value("error", ""), "bad_request") << body.substr(0, 80) << " -> " << res.body;
    }
    EXPECT_EQ(alice.get("/api/workstations").js().size(), before) << "a rejected registration wrote nothing";
    // 256 characters is still fine.
    auto longest = alice.post_json("/api/workstations", {{"name", s256}, {"fingerprint", "fp-" + s256.substr(3)}});
    EXPECT_EQ(longest.status, 201) << longest.body;

    // Anonymous: 401.
    EXPECT_EQ(HttpClient(port()).get("/api/workstations").status, 401);
    EXPECT_EQ(HttpClient(port()).post_json("/api/workstations", {{"name", "x"}, {"fingerprint", "fp-anon"}}).status,
              401);
}

// ---------------------------------------------------------------------------------------------
// The stream (API §3)

// Two users, two workstations of one of them, and a stream without workstation: all receive
// the everyone-audience item events, with the same ids, in the documented frame format.
TEST_P(Events, ItemEventsReachEveryUserAndWorkstation) {
    boot();
    auto alice_tok = make_user("alice", "editor");
    auto bob_tok = make_user("bob", "viewer");
    auto a1 = register_ws(alice_tok, "alice-1", "fp-a1");
    auto a2 = register_ws(alice_tok, "alice-2", "fp-a2");
    auto b1 = register_ws(bob_tok, "bob-1", "fp-b1");
    ASSERT_FALSE(a1.empty() || a2.empty() || b1.empty());

    std::vector<std::pair<std::string, std::unique_ptr<SseClient>>> streams;
    streams.emplace_back("alice/a1", open(alice_tok, "?workstation_id=" + a1));
    streams.emplace_back("alice/a2", open(alice_tok, "?workstation_id=" + a2));
    streams.emplace_back("bob/b1", open(bob_tok, "?workstation_id=" + b1));
    streams.emplace_back("bob", open(bob_tok));
    for (auto& [name, s] : streams) {
        ASSERT_EQ(s->status(), 200) << name << ": " << s->error_body();
        EXPECT_EQ(s->header("content-type").rfind("text/event-stream", 0), 0u)
            << name << ": " << s->header("content-type");
    }

    auto admin = as(port(), admin_token);
    auto item = create(admin, "EV-1", "first", "assembly");
    ASSERT_EQ(as(port(), admin_token).put_json("/api/items/EV-1", {{"description", "second"}}).status, 200);
    ASSERT_EQ(admin.del("/api/items/EV-1").status, 204);
    create(admin, "EV-CANARY");  // each stream's next frame after the three: nothing in between

    std::optional<std::vector<std::int64_t>> ids_seen;
    for (auto& [name, s] : streams) {
        SCOPED_TRACE(name);
        auto got = take(*s, 3, 5s);
        ASSERT_EQ(got.size(), 3u) << describe(got);
        const char* types[] = {"item.created", "item.updated", "item.deleted"};
        std::vector<std::int64_t> ids;
        for (int i = 0; i < 3; ++i) {
            const auto& e = got[i];
            expect_item_event(e, types[i], "EV-1");
            auto d = e.js();
            ASSERT_TRUE(d.is_object()) << e.raw;
            EXPECT_EQ(d.value("item_id", ""), item.value("id", "x")) << e.raw;
            if (i < 2) {
                EXPECT_EQ(d.value("item_type", ""), "assembly") << e.raw;
            }
            if (i == 0) {
                EXPECT_EQ(d.value("description", ""), "first") << e.raw;
            }
            if (i == 1) {
                EXPECT_EQ(d.value("description", ""), "second") << e.raw;
            }
            // Exactly `id: n`, `event: type`, `data: <one-line JSON>`, blank line.
            if (e.id) {
                EXPECT_EQ(e.raw,
                          "id: " + std::to_string(*e.id) + "\nevent: " + types[i] + "\ndata: " + e.data + "\n\n");
            }
            EXPECT_EQ(e.data.find('\n'), std::string::npos);
            ids.push_back(e.id.value_or(-1));
        }
        EXPECT_LT(ids[0], ids[1]);
        EXPECT_LT(ids[1], ids[2]);
        if (ids_seen) {
            EXPECT_EQ(ids, *ids_seen) << "every stream sees the same ids";
        } else {
            ids_seen = ids;
        }
        auto canary = take(*s, 1, 5s);
        ASSERT_EQ(canary.size(), 1u) << "the canary never came: the stream was closed?";
        EXPECT_EQ(pn_of(canary[0]), "EV-CANARY") << "nothing else: " << describe(canary);
    }
}

TEST_P(Events, StreamWorkstationMustBeTheCallers) {
    boot();
    auto alice_tok = make_user("alice", "editor");
    auto bob_tok = make_user("bob", "viewer");
    auto a1 = register_ws(alice_tok, "alice-1", "fp-a1");
    ASSERT_FALSE(a1.empty());

    auto foreign = open(bob_tok, "?workstation_id=" + a1);
    EXPECT_EQ(foreign->status(), 403) << foreign->error_body();
    EXPECT_EQ(foreign->error().value("error", ""), "forbidden") << foreign->error_body();
    auto unknown = open(bob_tok, "?workstation_id=00000000-0000-4000-8000-000000000042");
    EXPECT_EQ(unknown->status(), 403) << unknown->error_body();
    EXPECT_EQ(unknown->error().value("error", ""), "forbidden") << unknown->error_body();
    auto malformed = open(bob_tok, "?workstation_id=not-a-uuid");
    EXPECT_EQ(malformed->status(), 400) << malformed->error_body();
    EXPECT_EQ(malformed->error().value("error", ""), "bad_request") << malformed->error_body();
    auto anonymous = open("");
    EXPECT_EQ(anonymous->status(), 401) << anonymous->error_body();
    EXPECT_EQ(anonymous->error().value("error", ""), "unauthorized") << anonymous->error_body();
    auto bad_token = open("silo_0000000000000000000000000000000000000000000000000000000000000000");
    EXPECT_EQ(bad_token->status(), 401) << bad_token->error_body();

    // A deleted workstation is unknown from then on.
    auto a2 = register_ws(alice_tok, "alice-2", "fp-a2");
    ASSERT_EQ(as(port(), alice_tok).del("/api/workstations/" + a2).status, 204);
    auto deleted = open(alice_tok, "?workstation_id=" + a2);
    EXPECT_EQ(deleted->status(), 403) << deleted->error_body();

    auto own = open(alice_tok, "?workstation_id=" + a1);
    EXPECT_EQ(own->status(), 200) << own->error_body();
    EXPECT_TRUE(wait_streams(port(), 1, 3s)) << "refused streams are not counted";
}

// ---------------------------------------------------------------------------------------------
// Replay

// A client that saw event n misses n+1..n+k; reconnecting with Last-Event-ID (and, separately,
// ?last_event_id=) it receives exactly those, in order, then the live stream with no gap and
// no duplicate.
TEST_P(Events, ReplayAfterDisconnectDeliversEachMissedEventOnce) {
    boot();
    auto admin = as(port(), admin_token);
    std::int64_t n = 0;
    {
        auto s = open(admin_token);
        ASSERT_EQ(s->status(), 200) << s->error_body();
        create(admin, "RP-0");
        auto first = take(*s, 1, 5s);
        ASSERT_EQ(first.size(), 1u) << describe(first);
        expect_item_event(first[0], "item.created", "RP-0");
        ASSERT_TRUE(first[0].id);
        n = *first[0].id;
    }
    // Missed while disconnected: creations, an update, a delete.
    create(admin, "RP-1");
    create(admin, "RP-2");
    create(admin, "RP-3");
    ASSERT_EQ(admin.put_json("/api/items/RP-1", {{"description", "changed"}}).status, 200);
    ASSERT_EQ(admin.del("/api/items/RP-2").status, 204);
    std::vector<std::pair<std::string, std::string>> missed = {{"item.created", "RP-1"},
                                                               {"item.created", "RP-2"},
                                                               {"item.created", "RP-3"},
                                                               {"item.updated", "RP-1"},
                                                               {"item.deleted", "RP-2"}};

    for (std::string mode : {"header", "query"}) {
        SCOPED_TRACE(mode);
        auto r = mode == "header" ? open(admin_token, "", {{"Last-Event-ID", std::to_string(n)}})
                                  : open(admin_token, "?last_event_id=" + std::to_string(n));
        ASSERT_EQ(r->status(), 200) << r->error_body();
        auto got = take(*r, missed.size(), 5s);
        ASSERT_EQ(got.size(), missed.size()) << describe(got);
        for (std::size_t i = 0; i < missed.size(); ++i)
            expect_item_event(got[i], missed[i].first, missed[i].second, n + 1 + static_cast<std::int64_t>(i));
        // Live after the replay: the next event arrives once, with the next id.
        std::string live = "RP-L" + mode;
        create(admin, live);
        auto next = take(*r, 1, 5s);
        ASSERT_EQ(next.size(), 1u) << describe(next);
        expect_item_event(next[0], "item.created", live, n + 1 + static_cast<std::int64_t>(missed.size()));
        // No duplicate before the next event (a canary, missed by the first connection too).
        std::string canary = "RP-C" + mode;
        create(admin, canary);
        auto after = take(*r, 1, 5s);
        ASSERT_EQ(after.size(), 1u) << "the canary never came";
        expect_item_event(after[0], "item.created", canary, n + 2 + static_cast<std::int64_t>(missed.size()));
        missed.emplace_back("item.created", live);
        missed.emplace_back("item.created", canary);
    }

    // Up to date already: nothing replayed, then live.
    auto head = n + static_cast<std::int64_t>(missed.size());
    auto current = open(admin_token, "", {{"Last-Event-ID", std::to_string(head)}});
    ASSERT_EQ(current->status(), 200) << current->error_body();
    // Nothing replayed: the next frame is the next event (with the next id).
    create(admin, "RP-LAST");
    auto last = take(*current, 1, 5s);
    ASSERT_EQ(last.size(), 1u);
    expect_item_event(last[0], "item.created", "RP-LAST", head + 1);
}

// The log is durable: after SIGTERM and a new process on the same data, replay still works and
// ids keep increasing.
TEST_P(Events, ReplaySurvivesARestart) {
    boot();
    auto admin = as(port(), admin_token);
    std::vector<SseEvent> got;
    {
        auto s = open(admin_token);
        ASSERT_EQ(s->status(), 200) << s->error_body();
        for (const char* pn : {"RS-1", "RS-2", "RS-3"}) create(admin, pn);
        got = take(*s, 3, 5s);
    }
    ASSERT_EQ(got.size(), 3u) << describe(got);
    ASSERT_TRUE(got[1].id && got[2].id);
    auto seen = *got[1].id, last = *got[2].id;

    EXPECT_EQ(server->stop(SIGTERM), 0) << server->log();
    retired = std::move(server);
    auto o = options();
    if (GetParam() == Db::sqlite) {
        o.data_dir = retired->dir();
    } else {
        o.pg_url = retired->pg_url();
    }
    server = ServerProcess::start(o);

    auto r = open(admin_token, "", {{"Last-Event-ID", std::to_string(seen)}});
    ASSERT_EQ(r->status(), 200) << r->error_body();
    auto replayed = take(*r, 1, 5s);
    ASSERT_EQ(replayed.size(), 1u) << describe(replayed);
    expect_item_event(replayed[0], "item.created", "RS-3", last);
    auto admin2 = as(port(), admin_token);
    create(admin2, "RS-4");
    auto live = take(*r, 1, 5s);
    ASSERT_EQ(live.size(), 1u) << describe(live);
    expect_item_event(live[0], "item.created", "RS-4", last + 1);
    create(admin2, "RS-C");  // no duplicate before the canary
    auto canary = take(*r, 1, 5s);
    ASSERT_EQ(canary.size(), 1u) << "the canary never came";
    expect_item_event(canary[0], "item.created", "RS-C", last + 2);

    // A client from before the restart that last saw RS-1: RS-2..RS-4, in order.
    auto from_start = open(admin_token, "?last_event_id=" + std::to_string(seen - 1));
    ASSERT_EQ(from_start->status(), 200) << from_start->error_body();
    auto all = take(*from_start, 3, 5s);
    ASSERT_EQ(all.size(), 3u) << describe(all);
    expect_item_event(all[0], "item.created", "RS-2", seen);
    expect_item_event(all[1], "item.created", "RS-3", last);
    expect_item_event(all[2], "item.created", "RS-4", last + 1);
}

// A Last-Event-ID older than the retained history gets `stream.reset` first (no id line).
// Pruning is simulated in the database: events through e3 removed, event_head.pruned_through
// set, as the pruner would after retention_hours.
TEST_P(Events, LastEventIdBeyondRetentionGetsStreamReset) {
    boot({{"retention_hours", "1"}});
    auto admin = as(port(), admin_token);
    std::vector<SseEvent> got;
    {
        auto s = open(admin_token);
        ASSERT_EQ(s->status(), 200) << s->error_body();
        for (int i = 1; i <= 5; ++i) create(admin, "RT-" + std::to_string(i));
        got = take(*s, 5, 5s);
    }
    ASSERT_EQ(got.size(), 5u) << describe(got);
    std::vector<std::int64_t> e;
    for (const auto& ev : got) {
        ASSERT_TRUE(ev.id) << ev.raw;
        e.push_back(*ev.id);
    }
    server->sql("DELETE FROM events WHERE id <= " + std::to_string(e[2]));
    server->sql("UPDATE event_head SET pruned_through = " + std::to_string(e[2]));

    {
        auto r = open(admin_token, "", {{"Last-Event-ID", std::to_string(e[0])}});
        ASSERT_EQ(r->status(), 200) << r->error_body();
        auto first = r->next(5s);
        ASSERT_TRUE(first) << "no frame";
        EXPECT_EQ(first->event, "stream.reset") << first->raw;
        EXPECT_FALSE(first->has_id_line) << "stream.reset must not move the last event id: " << first->raw;
        EXPECT_EQ(first->js(), json({{"reason", "history_truncated"}})) << first->raw;
        // The stream goes on: whatever is retained (RT-4, RT-5) may follow, then live events.
        create(admin, "RT-6");
        std::vector<SseEvent> rest;
        while (rest.size() < 4) {
            auto ev = r->next(5s);
            if (!ev) break;
            rest.push_back(*ev);
            if (pn_of(*ev) == "RT-6") break;
        }
        ASSERT_FALSE(rest.empty()) << "the stream stays open after stream.reset";
        ASSERT_EQ(pn_of(rest.back()), "RT-6") << describe(rest);
        rest.pop_back();
        if (!rest.empty()) {
            ASSERT_EQ(rest.size(), 2u) << describe(rest);
            expect_item_event(rest[0], "item.created", "RT-4", e[3]);
            expect_item_event(rest[1], "item.created", "RT-5", e[4]);
        }
    }
    {
        // Same through ?last_event_id=.
        auto q = open(admin_token, "?last_event_id=" + std::to_string(e[1]));
        ASSERT_EQ(q->status(), 200) << q->error_body();
        auto first = q->next(5s);
        ASSERT_TRUE(first);
        EXPECT_EQ(first->event, "stream.reset") << first->raw;
    }
    {
        // A client that saw the newest pruned event missed nothing: no reset, plain replay.
        auto edge = open(admin_token, "", {{"Last-Event-ID", std::to_string(e[2])}});
        ASSERT_EQ(edge->status(), 200) << edge->error_body();
        auto replay = take(*edge, 3, 5s);
        ASSERT_EQ(replay.size(), 3u) << describe(replay);
        expect_item_event(replay[0], "item.created", "RT-4", e[3]);
        expect_item_event(replay[1], "item.created", "RT-5", e[4]);
        expect_item_event(replay[2], "item.created", "RT-6", e[4] + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST_P(Events, BadStreamRequestsAreRefused) {
    boot();
    auto admin = as(port(), admin_token);

    auto bad_header = open(admin_token, "", {{"Last-Event-ID", "abc"}});
    EXPECT_EQ(bad_header->status(), 400) << bad_header->error_body();
    EXPECT_EQ(bad_header->error().value("error", ""), "bad_request") << bad_header->error_body();
    EXPECT_TRUE(bad_header->error().value("message", "").size() > 0) << bad_header->error_body();
    auto bad_query = open(admin_token, "?last_event_id=abc");
    EXPECT_EQ(bad_query->status(), 400) << bad_query->error_body();
    EXPECT_EQ(bad_query->error().value("error", ""), "bad_request") << bad_query->error_body();

    // watch: at most 500 part numbers. The items exist, so only the count can be at fault.
    std::vector<std::string> pns;
    for (int i = 0; i < 501; ++i) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "W-%03d", i);
        pns.emplace_back(buf);
        auto r = admin.post_json("/api/items", {{"part_number", pns.back()}});
        ASSERT_EQ(r.status, 201) << r.body;
    }
    auto join = [&](std::size_t count) {
        std::string s;
        for (std::size_t i = 0; i < count; ++i) s += (i ? "," : "") + pns[i];
        return s;
    };
    auto too_many = open(admin_token, "?watch=" + join(501));
    EXPECT_EQ(too_many->status(), 400) << too_many->error_body();
    EXPECT_EQ(too_many->error().value("error", ""), "bad_request") << too_many->error_body();
    auto at_cap = open(admin_token, "?watch=" + join(500));
    EXPECT_EQ(at_cap->status(), 200) << at_cap->error_body();
    if (at_cap->status() == 200) {
        ASSERT_EQ(admin.put_json("/api/items/W-007", {{"description", "watched"}}).status, 200);
        // Some item.created may come first: a worker reads the log only after writing its
        // answer, and a stream attached before those reads starts before their events.
        std::optional<SseEvent> updated;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!updated) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            auto ev = at_cap->next(left);
            if (!ev) break;
            if (ev->event == "item.updated")
                updated = ev;
            else
                EXPECT_EQ(ev->event, "item.created") << ev->raw;
        }
        ASSERT_TRUE(updated) << "no item.updated for a watched item";
        expect_item_event(*updated, "item.updated", "W-007");
    }

    // An over-long request line: 414 with the envelope.
    std::string target = "/api/events?watch=" + std::string(10000, 'A');
    auto long_line = raw_request(port(),
                                 "GET " + target +
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                                     "Authorization: Bearer " +
                                     admin_token + "\r\n\r\n",
                                 5s);
    EXPECT_EQ(long_line.status, 414) << long_line.body;
    EXPECT_EQ(long_line.js().value("error", ""), "uri_too_long") << long_line.body;
    auto long_sse = SseClient(port(), target, bearer(admin_token));
    EXPECT_EQ(long_sse.status(), 414) << long_sse.error_body();

    EXPECT_TRUE(wait_streams(port(), 1, 3s)) << "only the accepted stream is counted";
    EXPECT_EQ(admin.get("/health").status, 200);
}

// ---------------------------------------------------------------------------------------------
// Back-pressure

// One reader never reads (small receive buffer, nothing read); another reads everything. The
// stalled one is closed once its bounded queue (16) overflows; the healthy one gets every event.
TEST_P(Events, StalledReaderIsDroppedWhileAHealthyReaderGetsEveryEvent) {
    boot({{"queue_limit", "16"}});
    auto admin = as(port(), admin_token);
    auto healthy = open(admin_token);
    ASSERT_EQ(healthy->status(), 200) << healthy->error_body();
    int stalled = open_stalled_stream(port(), "/api/events", bearer(admin_token), 4096);
    ASSERT_GE(stalled, 0);
    struct FdGuard {
        int fd;
        ~FdGuard() {
            if (fd >= 0) ::close(fd);
        }
    } guard{stalled};
    ASSERT_TRUE(wait_streams(port(), 2, 5s)) << "both streams open";

    const auto start = Clock::now();
    std::atomic<std::size_t> expected{std::numeric_limits<std::size_t>::max()};
    // The reader stops when it has everything, at end of stream, or at this time (moved to a
    // few seconds after the last creation).
    std::atomic<Clock::rep> finish_by{(start + 600s).time_since_epoch().count()};  // moved once all are created
    std::vector<SseEvent> got;
    bool healthy_closed = false;
    std::thread reader([&] {
        while (got.size() < expected.load() && Clock::now().time_since_epoch().count() < finish_by.load()) {
            auto e = healthy->next(200ms);
            if (e) {
                if (e->event == "item.created") got.push_back(std::move(*e));
                continue;
            }
            if (healthy->eof()) {
                healthy_closed = true;
                break;
            }
        }
    });

    // How much the kernel can absorb before the server's queue of 16 frames fills at all: the
    // server's send buffer grows up to tcp_wmem's maximum, the stalled client's receive buffer
    // holds about twice what it asked for. Twice that many frames (counted, not timed) must
    // overflow the queue and drop the stalled stream, however slow the machine.
    const std::string desc(3900, 'd');
    const std::size_t frame_bytes = desc.size() + 200;
    std::size_t wmem_max = 4u << 20;
    {
        std::istringstream in(read_file("/proc/sys/net/ipv4/tcp_wmem"));
        std::size_t lo = 0, def = 0, hi = 0;
        if (in >> lo >> def >> hi && hi > 0) wmem_max = hi;
    }
    const std::size_t absorbed = wmem_max + 2 * 4096 + 16 * frame_bytes;
    const std::size_t to_create = 2 * (absorbed / frame_bytes + 1);
    HttpClient probe(port());
    std::vector<std::string> pns;
    bool dropped = false;
    try {  // nothing may escape while the reader thread runs
        for (std::size_t i = 0; i < to_create; ++i) {
            std::string pn = "BP-" + std::to_string(i);
            auto r = admin.post_json("/api/items", {{"part_number", pn}, {"description", desc}});
            if (r.status != 201) {
                ADD_FAILURE() << pn << ": " << r.status << " " << r.body;
                break;
            }
            pns.push_back(pn);
        }
        // The drop happens once the queue overflows: wait for /ready to count one stream
        // (bounded; this is not a speed requirement).
        for (auto deadline = Clock::now() + 60s; !dropped && Clock::now() < deadline; std::this_thread::sleep_for(100ms))
            dropped = ready_streams(probe) == 1;
        // The healthy stream goes on after the drop.
        for (int i = 0; i < 20; ++i) {
            std::string pn = "BP-after-" + std::to_string(i);
            if (admin.post_json("/api/items", {{"part_number", pn}, {"description", desc}}).status == 201)
                pns.push_back(pn);
        }
    } catch (const std::exception& ex) {
        ADD_FAILURE() << "creating items: " << ex.what();
    }
    expected = pns.size();
    finish_by = (Clock::now() + 30s).time_since_epoch().count();  // the reader ends as soon as it has them all
    reader.join();

    EXPECT_TRUE(dropped) << "the stalled stream was still open after " << pns.size() << " events (" << to_create
                         << " computed from tcp_wmem " << wmem_max << "); /ready: " << ready_streams(probe);
    EXPECT_FALSE(healthy_closed) << "the healthy stream was closed";
    ASSERT_EQ(got.size(), pns.size()) << "the healthy reader missed events";
    for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(pn_of(got[i]), pns[i]) << "order at " << i;
        ASSERT_TRUE(got[i].id);
        if (i) {
            ASSERT_EQ(*got[i].id, *got[i - 1].id + 1) << "no gap, no duplicate at " << i;
        }
    }

    // The stalled socket: reading it now yields what the kernel held, then the end.
    auto drained = drain_until_closed(stalled, 10s, 64u << 20);
    EXPECT_TRUE(drained.closed) << "the server never closed the stalled stream (" << drained.bytes << " bytes read)";
    EXPECT_LT(drained.bytes, healthy->bytes_received())
        << "the stalled stream got everything: the server buffered it all instead of dropping it";
    EXPECT_TRUE(wait_streams(port(), 1, 10s)) << "event_streams back down: " << ready_streams(probe);
}

// ---------------------------------------------------------------------------------------------
// Heartbeats, /ready, limits

TEST_P(Events, HeartbeatArrivesAndRefreshesWorkstationLastSeen) {
    boot();
    auto alice_tok = make_user("alice", "editor");
    auto alice = as(port(), alice_tok);
    auto ws = register_ws(alice_tok, "alice-1", "fp-a1");
    ASSERT_FALSE(ws.empty());
    auto listed = alice.get("/api/workstations").js();
    ASSERT_TRUE(listed.is_array() && listed.size() == 1u) << listed.dump();
    EXPECT_TRUE(listed[0]["last_seen"].is_null()) << listed.dump();

    auto s = open(alice_tok, "?workstation_id=" + ws);
    ASSERT_EQ(s->status(), 200) << s->error_body();
    auto hb = s->next(3500ms, /*skip_heartbeats=*/false);
    ASSERT_TRUE(hb) << "no heartbeat within 3.5 s with heartbeat_seconds: 1";
    EXPECT_EQ(hb->event, "heartbeat") << hb->raw;
    EXPECT_FALSE(hb->has_id_line) << hb->raw;
    EXPECT_EQ(hb->js(), json::object()) << hb->raw;
    EXPECT_EQ(hb->raw, "event: heartbeat\ndata: {}\n\n");
    auto hb2 = s->next(3000ms, false);
    ASSERT_TRUE(hb2) << "heartbeats repeat";
    EXPECT_EQ(hb2->event, "heartbeat");

    // last_seen is set by the heartbeat tick (bounded poll).
    json last_seen;
    auto deadline = Clock::now() + 4s;
    while (Clock::now() < deadline) {
        auto l = alice.get("/api/workstations").js();
        if (l.is_array() && !l.empty() && l[0].contains("last_seen") && l[0]["last_seen"].is_string()) {
            last_seen = l[0]["last_seen"];
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(last_seen.is_string()) << "last_seen stayed null";
    EXPECT_EQ(last_seen.get<std::string>().back(), 'Z');

    // Heartbeats do not disturb ids: the next item event is a normal one.
    auto admin = as(port(), admin_token);
    create(admin, "HB-1");
    auto e = take(*s, 1, 5s);
    ASSERT_EQ(e.size(), 1u);
    expect_item_event(e[0], "item.created", "HB-1");
    EXPECT_GE(s->heartbeats_seen(), 2);
}

TEST_P(Events, ReadyCountsOpenStreams) {
    boot();
    auto alice_tok = make_user("alice", "editor");
    auto ws = register_ws(alice_tok, "alice-1", "fp-a1");
    HttpClient probe(port());
    EXPECT_EQ(ready_streams(probe), 0);
    {
        auto s1 = open(admin_token);
        auto s2 = open(alice_tok);
        auto s3 = open(alice_tok, "?workstation_id=" + ws);
        for (auto* s : {s1.get(), s2.get(), s3.get()}) ASSERT_EQ(s->status(), 200) << s->error_body();
        EXPECT_TRUE(wait_streams(port(), 3, 3s)) << "event_streams: " << ready_streams(probe);
        auto r = probe.get("/ready");
        EXPECT_EQ(r.status, 200);
    }
    EXPECT_TRUE(wait_streams(port(), 0, 5s)) << "closed streams still counted: " << ready_streams(probe);
}

TEST_P(Events, StreamsPerUserAreCapped) {
    boot({{"max_streams_per_user", "2"}});
    auto alice_tok = make_user("alice", "editor");
    auto bob_tok = make_user("bob", "viewer");
    auto s1 = open(alice_tok);
    auto s2 = open(alice_tok);
    ASSERT_EQ(s1->status(), 200) << s1->error_body();
    ASSERT_EQ(s2->status(), 200) << s2->error_body();
    auto s3 = open(alice_tok);
    EXPECT_EQ(s3->status(), 429) << s3->error_body();
    EXPECT_TRUE(s3->error().is_object() && s3->error()["error"].is_string()) << "envelope: " << s3->error_body();
    EXPECT_EQ(s3->error().value("error", ""), "too_many_requests") << s3->error_body();
    auto b = open(bob_tok);
    EXPECT_EQ(b->status(), 200) << "another user is not affected: " << b->error_body();
    EXPECT_TRUE(wait_streams(port(), 3, 3s));

    // A closed stream frees its place (bounded retry while the server notices the close).
    s1.reset();
    int status = 0;
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
        auto again = open(alice_tok);
        status = again->status();
        if (status == 200) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(status, 200);
}

// ---------------------------------------------------------------------------------------------
// Vanishing clients, deactivation, shutdown

TEST_P(Events, ClientsVanishingMidHandshakeLeakNothing) {
    boot();
    auto admin = as(port(), admin_token);
    HttpClient probe(port());
    // Warm-up: let the connection pool and anything made lazily reach its steady size.
    {
        std::vector<std::thread> ts;
        for (int t = 0; t < 12; ++t)
            ts.emplace_back([&] {
                try {
                    auto c = as(port(), admin_token);
                    for (int i = 0; i < 4; ++i) {
                        c.get("/api/items");
                        SseClient s(port(), "/api/events", bearer(admin_token));
                        s.next(20ms);
                    }
                } catch (const std::exception&) {
                    // the checks below tell whether the server still serves
                }
            });
        for (auto& t : ts) t.join();
    }
    const std::string full =
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
        "text/event-stream\r\nAuthorization: Bearer " +
        admin_token + "\r\n\r\n";
    auto send_str = [](int fd, const std::string& s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL); };
    // 200 clients that vanish at every stage of the handshake.
    auto vanish = [&] {
        for (int i = 0; i < 200; ++i) {
            int fd = connect_local(port(), 2s);
            ASSERT_GE(fd, 0) << "connect failed at " << i;
            switch (i % 6) {
                case 0:
                    break;  // connect and go
                case 1:
                    send_str(fd, "GET /api/ev");
                    break;
                case 2:
                    send_str(fd, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthoriz");
                    break;
                case 3:
                    send_str(fd, full);
                    break;
                case 4: {  // full request, then a reset instead of a close
                    send_str(fd, full);
                    linger l{1, 0};
                    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                    break;
                }
                case 5: {  // full request, read a little of the answer, go
                    send_str(fd, full);
                    char buf[64];
                    (void)::recv(fd, buf, sizeof buf, 0);  // bounded by the socket's 2 s timeout
                    break;
                }
            }
            ::close(fd);
        }
    };
    // A first round as warm-up too: the connection pools grow to what this load needs.
    vanish();
    ASSERT_TRUE(wait_streams(port(), 0, 5s));
    std::this_thread::sleep_for(300ms);
    // Client connections are what a vanishing client could leak. The total fd count also
    // moves with the database pools (a connection more under this load is not a leak), so it
    // only has to stay well below what one leaked fd per stream would add (about 100).
    const int baseline_conns = count_connections(server->pid(), port());
    const int baseline = count_fds(server->pid());
    ASSERT_GT(baseline, 0);
    vanish();

    int conns = -1, fds = 0, streams = -1;
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        conns = count_connections(server->pid(), port());
        fds = count_fds(server->pid());
        streams = ready_streams(probe);
        if (conns <= baseline_conns && fds <= baseline + 16 && streams == 0) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_LE(conns, baseline_conns) << "client connections left open";
    EXPECT_LE(fds, baseline + 16) << "fd count did not come back near the baseline " << baseline;
    EXPECT_EQ(streams, 0);
    EXPECT_TRUE(server->alive());
    EXPECT_EQ(HttpClient(port()).get("/health").status, 200);
    // And streams still work.
    auto s = open(admin_token);
    ASSERT_EQ(s->status(), 200) << s->error_body();
    create(admin, "VC-1");
    auto e = take(*s, 1, 5s);
    ASSERT_EQ(e.size(), 1u);
    expect_item_event(e[0], "item.created", "VC-1");
}

TEST_P(Events, DeactivatingAUserClosesTheirStreams) {
    boot();
    auto dora_tok = make_user("dora", "editor");
    auto bob_tok = make_user("bob", "viewer");
    auto ws = register_ws(dora_tok, "dora-1", "fp-d1");
    auto d1 = open(dora_tok);
    auto d2 = open(dora_tok, "?workstation_id=" + ws);
    auto b = open(bob_tok);
    for (auto* s : {d1.get(), d2.get(), b.get()}) ASSERT_EQ(s->status(), 200) << s->error_body();
    ASSERT_TRUE(wait_streams(port(), 3, 3s));

    auto admin = as(port(), admin_token);
    auto patch =
        admin.request("PATCH", "/api/admin/users/dora", R"({"active":false})", {{"Content-Type", "application/json"}});
    ASSERT_EQ(patch.status, 200) << patch.body;
    EXPECT_TRUE(d1->closed_by_server(3s)) << "dora's stream stayed open";
    EXPECT_TRUE(d2->closed_by_server(3s)) << "dora's workstation stream stayed open";
    EXPECT_FALSE(b->closed_by_server(1s)) << "bob's stream was closed too";
    create(admin, "DA-1");
    auto e = take(*b, 1, 5s);
    ASSERT_EQ(e.size(), 1u) << describe(e);
    expect_item_event(e[0], "item.created", "DA-1");
    EXPECT_TRUE(wait_streams(port(), 1, 3s));
    auto again = open(dora_tok);
    EXPECT_EQ(again->status(), 401) << again->error_body();
}

TEST_P(Events, ShutdownClosesOpenStreamsAtOnce) {
    boot();
    auto alice_tok = make_user("alice", "editor");
    auto ws = register_ws(alice_tok, "alice-1", "fp-a1");
    std::vector<std::unique_ptr<SseClient>> streams;
    streams.push_back(open(admin_token));
    streams.push_back(open(alice_tok));
    streams.push_back(open(alice_tok, "?workstation_id=" + ws));
    for (auto& s : streams) ASSERT_EQ(s->status(), 200) << s->error_body();
    ASSERT_TRUE(wait_streams(port(), 3, 3s));

    const auto t0 = Clock::now();
    int rc = -999;
    std::thread stopper([&] { rc = server->stop(SIGTERM, std::chrono::seconds(10)); });
    bool all_closed = true;
    for (auto& s : streams) all_closed = s->closed_by_server(3s) && all_closed;
    const auto closed_after = Clock::now() - t0;
    stopper.join();
    const auto exited_after = Clock::now() - t0;
    EXPECT_TRUE(all_closed) << "a stream stayed open during shutdown";
    EXPECT_LT(closed_after, 2s) << "streams were not closed at once";
    EXPECT_EQ(rc, 0) << server->log();
    EXPECT_LT(exited_after, 5s);
    server.reset();
}

// ---------------------------------------------------------------------------------------------
// Several instances (API §11)

TEST_P(Events, TwoInstancesOnOnePostgresDeliverEachOthersEvents) {
    if (GetParam() != Db::postgres) GTEST_SKIP() << "several instances need PostgreSQL";
    boot();
    auto o = options();
    o.pg_url = server->pg_url();
    other = ServerProcess::start(o);
    const int pa = server->port(), pb = other->port();
    auto a = as(pa, admin_token);
    auto b = as(pb, admin_token);
    ASSERT_EQ(b.get("/api/auth/me").status, 200);

    std::int64_t n = 0;
    {
        auto sa = open(admin_token, "", {}, pa);
        auto sb = open(admin_token, "", {}, pb);
        ASSERT_EQ(sa->status(), 200) << sa->error_body();
        ASSERT_EQ(sb->status(), 200) << sb->error_body();
        create(b, "MI-1");
        auto ea = take(*sa, 1, 5s);
        ASSERT_EQ(ea.size(), 1u) << "A did not get B's event: " << describe(ea);
        expect_item_event(ea[0], "item.created", "MI-1");
        auto eb = take(*sb, 1, 5s);
        ASSERT_EQ(eb.size(), 1u) << describe(eb);
        EXPECT_EQ(eb[0].id, ea[0].id);
        create(a, "MI-2");
        auto eb2 = take(*sb, 1, 5s);
        ASSERT_EQ(eb2.size(), 1u) << "B did not get A's event: " << describe(eb2);
        ASSERT_TRUE(ea[0].id);
        expect_item_event(eb2[0], "item.created", "MI-2", *ea[0].id + 1);
        auto ea2 = take(*sa, 1, 5s);
        ASSERT_EQ(ea2.size(), 1u) << describe(ea2);
        EXPECT_EQ(ea2[0].id, eb2[0].id);
        n = eb2[0].id.value_or(0);
    }
    // Missed while away, created through both; replayed on B, then live from A.
    create(a, "MI-3");
    create(b, "MI-4");
    create(a, "MI-5");
    auto rb = open(admin_token, "", {{"Last-Event-ID", std::to_string(n)}}, pb);
    ASSERT_EQ(rb->status(), 200) << rb->error_body();
    auto replay = take(*rb, 3, 5s);
    ASSERT_EQ(replay.size(), 3u) << describe(replay);
    expect_item_event(replay[0], "item.created", "MI-3", n + 1);
    expect_item_event(replay[1], "item.created", "MI-4", n + 2);
    expect_item_event(replay[2], "item.created", "MI-5", n + 3);
    create(a, "MI-6");
    auto live = take(*rb, 1, 5s);
    ASSERT_EQ(live.size(), 1u) << describe(live);
    expect_item_event(live[0], "item.created", "MI-6", n + 4);
    create(a, "MI-C");  // no duplicate before the canary
    auto canary = take(*rb, 1, 5s);
    ASSERT_EQ(canary.size(), 1u) << "the canary never came";
    expect_item_event(canary[0], "item.created", "MI-C", n + 5);
    // And on A from the same point.
    auto ra = open(admin_token, "?last_event_id=" + std::to_string(n), {}, pa);
    ASSERT_EQ(ra->status(), 200) << ra->error_body();
    auto all = take(*ra, 4, 5s);
    ASSERT_EQ(all.size(), 4u) << describe(all);
    for (int i = 0; i < 4; ++i) expect_item_event(all[i], "item.created", "MI-" + std::to_string(3 + i), n + 1 + i);
}

// ---------------------------------------------------------------------------------------------
// A real SSE client nobody here wrote: npm `eventsource` (tests/node).

struct NodeLine {
    std::int64_t id = -1;
    std::string type;
    json data;
};

std::vector<NodeLine> parse_node_output(const std::string& out) {
    std::vector<NodeLine> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_object()) continue;
        NodeLine l;
        if (j["id"].is_string()) l.id = std::atoll(j["id"].get<std::string>().c_str());
        l.type = j.value("type", "");
        l.data = j["data"];
        lines.push_back(l);
    }
    return lines;
}

TEST_P(Events, NodeEventSourceClientReceivesAndReplays) {
    const std::string node = find_executable("node");
    const std::string script = silo::test::source_dir() + "/tests/node/eventsource_client.mjs";
    const bool installed = std::filesystem::exists(silo::test::source_dir() + "/tests/node/node_modules/eventsource/package.json");
    if (node.empty() || !installed) {
        std::string why = node.empty() ? "node is not installed" : "run `npm ci --prefix tests/node`";
        if (std::getenv("SILO_TEST_REQUIRE_PG")) {
            FAIL() << why;
        } else {
            GTEST_SKIP() << why;
        }
    }
    boot();
    auto admin = as(port(), admin_token);
    const std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/api/events";

    // Live: three events.
    auto first = ChildProcess::start({node, script, url, admin_token, "3"});
    bool connected = wait_streams(port(), 1, 10s);
    ASSERT_TRUE(connected) << "the eventsource client did not connect: " << first->err();
    for (const char* pn : {"NODE-1", "NODE-2", "NODE-3"}) create(admin, pn);
    auto rc = first->wait(25s);
    ASSERT_TRUE(rc.has_value()) << "the client did not finish: " << first->out() << first->err();
    EXPECT_EQ(*rc, 0) << first->err();
    auto got = parse_node_output(first->out());
    ASSERT_EQ(got.size(), 3u) << first->out() << first->err();
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(got[i].type, "item.created");
        EXPECT_EQ(got[i].data.value("part_number", ""), "NODE-" + std::to_string(i + 1));
        if (i) {
            EXPECT_EQ(got[i].id, got[i - 1].id + 1);
        }
    }
    const auto id1 = got[0].id;
    ASSERT_GT(id1, 0);
    ASSERT_TRUE(wait_streams(port(), 0, 5s));

    // Missed while away, then a reconnect with the id of the first one: NODE-2..5 replayed,
    // NODE-6 live.
    create(admin, "NODE-4");
    create(admin, "NODE-5");
    auto second = ChildProcess::start({node, script, url, admin_token, "5", std::to_string(id1)});
    ASSERT_TRUE(wait_streams(port(), 1, 10s)) << "the eventsource client did not reconnect: " << second->err();
    create(admin, "NODE-6");
    rc = second->wait(25s);
    ASSERT_TRUE(rc.has_value()) << "the client did not finish: " << second->out() << second->err();
    EXPECT_EQ(*rc, 0) << second->err();
    auto replayed = parse_node_output(second->out());
    ASSERT_EQ(replayed.size(), 5u) << second->out() << second->err();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(replayed[i].type, "item.created");
        EXPECT_EQ(replayed[i].data.value("part_number", ""), "NODE-" + std::to_string(i + 2));
        EXPECT_EQ(replayed[i].id, id1 + 1 + i);
    }
}

INSTANTIATE_TEST_SUITE_P(Db, Events, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
