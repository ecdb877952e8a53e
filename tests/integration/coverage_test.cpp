// Parts of API.md no other test covered (issue 22), against the real binary on SQLite and
// PostgreSQL: approval events on real streams, replay of user- and item-audience events with
// the audience decided as of the reconnect, server.read_only, the retention pruner, and the
// session cookie's attributes.
#include "session_fixture.hpp"

#include <regex>

using namespace silo::itest;

namespace {

class Coverage : public SessionTest {
protected:
    HttpResult sign(const std::string& token, const std::string& id, const std::string& status) {
        return as(port(), token).post_json("/api/approvals/" + id + "/sign", {{"status", status}});
    }
    // The id of the newest event in the log.
    std::int64_t head() const { return count("SELECT last_id FROM event_head WHERE id = 1"); }
};

// approval.created / submitted / signed / completed reach every stream (audience everyone),
// with API.md §3's payload.
TEST_P(Coverage, ApprovalEventsReachEveryStream) {
    boot();
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    auto vera = make_user("vera", "viewer");
    make_item("AE-1");
    auto item_id = str(admin().get("/api/items/AE-1").js(), "id");
    auto& viewer = open("vera", vera);
    auto& creator = open("eddie", eddie);

    auto a = as(port(), eddie).post_json("/api/items/AE-1/approvals", {{"workflow", "quick-review"}, {"draft", true}});
    ASSERT_EQ(a.status, 201) << a.body;
    const auto id = str(a.js(), "id");
    ASSERT_EQ(as(port(), eddie).request("POST", "/api/approvals/" + id + "/submit").status, 200);
    ASSERT_EQ(sign(erin, id, "approved").status, 200);

    for (auto* s : {&viewer, &creator}) {
        SCOPED_TRACE(s->name);
        auto expect_payload = [&](const std::optional<SseEvent>& e, const std::string& state) {
            ASSERT_TRUE(e) << s->all();
            auto d = e->js();
            EXPECT_EQ(str(d, "approval_id"), id) << e->raw;
            EXPECT_EQ(str(d, "workflow"), "quick-review") << e->raw;
            EXPECT_EQ(str(d, "resource_type"), "item") << e->raw;
            EXPECT_EQ(str(d, "resource_id"), item_id) << e->raw;
            EXPECT_EQ(str(d, "item_id"), item_id) << e->raw;
            EXPECT_EQ(str(d, "part_number"), "AE-1") << e->raw;
            EXPECT_EQ(str(d, "state"), state) << e->raw;
            EXPECT_TRUE(e->id) << "approval events carry an id: " << e->raw;
        };
        expect_payload(s->wait_for("approval.created"), "draft");
        expect_payload(s->wait_for("approval.submitted"), "pending");
        auto signed_ = s->wait_for("approval.signed");
        expect_payload(signed_, "approved");
        if (signed_) {
            EXPECT_EQ(str(signed_->js(), "username"), "erin") << signed_->raw;
            EXPECT_EQ(str(signed_->js(), "status"), "approved") << signed_->raw;
        }
        expect_payload(s->wait_for("approval.completed"), "approved");
        // Once each, in this order.
        settle({s});
        std::vector<std::string> order;
        for (const auto& e : s->got)
            if (e.event.rfind("approval.", 0) == 0) order.push_back(e.event);
        EXPECT_EQ(order, (std::vector<std::string>{"approval.created", "approval.submitted", "approval.signed",
                                                   "approval.completed"}));
    }
}

// A user-audience event (edit.handoff_declined, to the requester) and item-audience events
// (to watchers) are replayed after a reconnect to whom they are addressed as of the reconnect:
// the requester's other connection gets the decline, another user does not; a connection that
// watches the item again gets its events, one that no longer watches it does not.
TEST_P(Coverage, ReplayDecidesTheAudienceAsOfTheReconnect) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    make_item("RA-1");
    make_item("RA-2");
    auto sid = str(acquire_ok(alice, "RA-1", a1, "sketch", "Sketch001"), "id");
    auto asked = as(port(), bob).post_json("/api/items/RA-1/edit-sessions/" + sid + "/request-handoff",
                                           {{"message", "please"}});
    ASSERT_EQ(asked.status, 202) << asked.body;
    const auto from = head();

    // While nobody listens: a decline (to bob) and session events on RA-2 (to its watchers).
    ASSERT_EQ(as(port(), alice).post_json("/api/handoff-requests/" + str(asked.js(), "handoff_id") + "/decline",
                                          {{"message", "busy"}})
                  .status,
              200);
    auto other = str(acquire_ok(alice, "RA-2", a1, "partdesign", "Body"), "id");
    ASSERT_EQ(release(alice, "RA-2", other).status, 204);

    const auto q = "?last_event_id=" + std::to_string(from);
    auto& bob_back = open("bob back", bob, q);
    auto& carol_back = open("carol back", carol, q);
    auto& watching = open("carol watching RA-2", carol, q + "&watch=RA-2");
    auto& elsewhere = open("carol watching RA-1", carol, q + "&watch=RA-1");
    auto declined = bob_back.wait_for("edit.handoff_declined", sid);
    ASSERT_TRUE(declined) << bob_back.all();
    EXPECT_EQ(str(declined->js(), "message"), "busy") << declined->raw;
    ASSERT_TRUE(watching.wait_for("edit.session_acquired", other)) << watching.all();
    ASSERT_TRUE(watching.wait_for("edit.session_released", other)) << watching.all();
    settle({&bob_back, &carol_back, &watching, &elsewhere});
    EXPECT_TRUE(carol_back.of("edit.handoff_declined").empty()) << carol_back.all();
    EXPECT_TRUE(carol_back.edit_events().empty()) << carol_back.all();
    EXPECT_TRUE(elsewhere.edit_events().empty()) << "RA-2's events to a watcher of RA-1: " << elsewhere.all();
    EXPECT_TRUE(bob_back.of("edit.session_acquired").empty()) << bob_back.all();
    EXPECT_TRUE(watching.of("edit.handoff_declined").empty()) << watching.all();
}

// server.read_only: every write answers 503 read_only and writes nothing; reads, login and the
// event stream go on.
TEST_P(Coverage, ReadOnlyRefusesEveryWrite) {
    boot();
    auto bob = make_user("bob", "editor");
    auto b1 = register_ws(bob, "bob-1");
    make_item("RO-1");
    auto sid = str(acquire_ok(bob, "RO-1", b1, "sketch", "Sketch001"), "id");
    ASSERT_EQ(server->stop(), 0) << server->log();
    auto o = options({{"SILO_SERVER_READ_ONLY", "true"}});
    o.data_dir = server->dir();
    o.pg_url = server->pg_url();
    auto retired = std::move(server);
    server = ServerProcess::start(o);

    auto routes = json::parse(run_silod({"--print-routes"}).output);
    const auto audit_rows = count("SELECT COUNT(*) FROM audit_log");
    int writes = 0;
    for (const auto& r : routes) {
        std::string method = r["method"], path = r["path"];
        if (method == "GET" || r["access"] == "public") continue;
        path = std::regex_replace(path, std::regex(R"(\{partNumber\})"), "RO-1");
        path = std::regex_replace(path, std::regex(R"(\{sessionId\})"), sid);
        path = std::regex_replace(path, std::regex(R"(\{username\})"), "bob");
        path = std::regex_replace(path, std::regex(R"(\{[A-Za-z]+\})"), "00000000-0000-4000-8000-000000000001");
        auto res = admin().request(method, path, "{}", {{"Content-Type", "application/json"}});
        SCOPED_TRACE(method + " " + path);
        EXPECT_EQ(res.status, 503) << res.body;
        EXPECT_EQ(str(res.js(), "error"), "read_only") << res.body;
        ++writes;
    }
    EXPECT_GT(writes, 20);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), audit_rows) << "a refused write wrote an audit row";
    EXPECT_EQ(session_rows(), 1);
    EXPECT_EQ(admin().get("/api/items/RO-1").status, 200);
    EXPECT_EQ(admin().get("/api/modules").js()["server"]["read_only"], true);
    EXPECT_NO_THROW(login(port(), "bob", "bob-password-1")) << "logging in is not a write to the data";
    auto& s = open("bob", bob);
    (void)s;
}

// The retention pruner: events older than events.retention_hours go (also at start), the head
// remembers how far, and a client whose last id is gone gets stream.reset.
TEST_P(Coverage, TheRetentionPrunerRemovesOldEventsAndClientsAreReset) {
    boot();
    for (int i = 0; i < 5; ++i) make_item("RT-" + std::to_string(i));
    const auto last = head();
    ASSERT_GE(last, 5);
    ASSERT_EQ(server->stop(), 0) << server->log();
    // Everything but the newest event is 10 days old (retention: 168 hours).
    server->sql("UPDATE events SET at = 1000 WHERE id < " + std::to_string(last));
    auto o = options();
    o.data_dir = server->dir();
    o.pg_url = server->pg_url();
    auto retired = std::move(server);
    server = ServerProcess::start(o);
    EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE id < " + std::to_string(last)), 0) << server->log();
    EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE id = " + std::to_string(last)), 1) << "a recent event stays";
    EXPECT_EQ(count("SELECT pruned_through FROM event_head WHERE id = 1"), last - 1);
    auto viewer = make_user("vic", "viewer");
    auto& old = open("vic from the start", viewer, "?last_event_id=1");
    auto reset = old.wait_for("stream.reset");
    ASSERT_TRUE(reset) << old.all();
    EXPECT_EQ(str(reset->js(), "reason"), "history_truncated") << reset->raw;
    auto& recent = open("vic from the newest", viewer, "?last_event_id=" + std::to_string(last - 1));
    auto kept = recent.wait_for_item("item.created", "RT-4");
    ASSERT_TRUE(kept) << recent.all();
    EXPECT_TRUE(recent.of("stream.reset").empty()) << recent.all();
}

// The session cookie: HttpOnly, SameSite=Lax, Path=/, a lifetime; Secure behind TLS (as a
// reverse proxy reports it); logout expires it with the same attributes.
TEST_P(Coverage, TheSessionCookieHasItsAttributes) {
    boot();
    auto attributes = [](const std::string& set_cookie) {
        std::set<std::string> out;
        std::stringstream ss(set_cookie);
        std::string part;
        std::getline(ss, part, ';');  // name=value
        while (std::getline(ss, part, ';')) {
            while (!part.empty() && part.front() == ' ') part.erase(0, 1);
            out.insert(part);
        }
        return out;
    };
    auto body = json{{"username", "admin"}, {"password", kAdminPassword}}.dump();
    auto plain = HttpClient(port()).request("POST", "/login", body, {{"Content-Type", "application/json"}});
    ASSERT_EQ(plain.status, 200) << plain.body;
    auto cookie = plain.header("set-cookie");
    EXPECT_EQ(cookie.rfind("silo_session=", 0), 0u) << cookie;
    EXPECT_EQ(attributes(cookie),
              (std::set<std::string>{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=86400"}))
        << cookie;
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "HTTPS, http"}, {"Forwarded", "for=10.0.0.1;proto=https"}}) {
        auto tls = HttpClient(port()).request("POST", "/login", body,
                                              {{"Content-Type", "application/json"}, {name, value}});
        ASSERT_EQ(tls.status, 200) << tls.body;
        EXPECT_TRUE(attributes(tls.header("set-cookie")).count("Secure")) << name << ": " << value << " -> "
                                                                          << tls.header("set-cookie");
    }
    auto http = HttpClient(port()).request("POST", "/login", body,
                                           {{"Content-Type", "application/json"}, {"X-Forwarded-Proto", "http"}});
    EXPECT_FALSE(attributes(http.header("set-cookie")).count("Secure")) << http.header("set-cookie");
    auto l = login(port(), "admin", kAdminPassword);
    auto out = HttpClient(port()).request("POST", "/logout", "", {{"Cookie", l.cookie}, {"X-Forwarded-Proto", "https"}});
    ASSERT_EQ(out.status, 204);
    EXPECT_EQ(out.header("set-cookie").rfind("silo_session=;", 0), 0u) << out.header("set-cookie");
    EXPECT_EQ(attributes(out.header("set-cookie")),
              (std::set<std::string>{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=0", "Secure"}))
        << out.header("set-cookie");
    EXPECT_EQ(HttpClient(port()).request("GET", "/api/auth/me", "", {{"Cookie", l.cookie}}).status, 401);
}

INSTANTIATE_TEST_SUITE_P(Db, Coverage, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
