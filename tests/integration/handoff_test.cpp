// Handoff requests and admin force-release (issue 7, the seed feature request; API.md §3, §5,
// §6, §7, §8) against the real binary, on SQLite and PostgreSQL:
// - handoff: the request reaches the holder's workstation only (delivered, or replayed when
//   that workstation reconnects), is audited, listed per party, declined by the holder only,
//   and settles (fulfilled / superseded) when the session ends; bad requests write nothing;
// - force-release, direct mode: the session ends in one step, the holder's uploaded work is
//   kept as a pinned force_release checkpoint (byte-identical), or a checkpoint made during the
//   session is referenced; the holder's workstation gets edit.force_released (live or on
//   replay), the item's watchers edit.session_released; bad input changes nothing; racing the
//   holder's own release has exactly one winner;
// - force-release, approval mode: an approval of the session-override workflow guards it; a
//   second admin's approval releases the session (also from another instance on PostgreSQL),
//   a rejection keeps it, the holder's own release cancels it; designated approvers.
// Auth on, short timers (heartbeat 1 s, sweep 1 s, grace 2 s unless raised); every wait is
// bounded.
#include "session_fixture.hpp"

#include <atomic>
#include <iostream>
#include <set>
#include <thread>

using namespace silo::itest;

namespace {

const Headers kApprovalMode{{"SILO_MODULES_SESSIONS_FORCE_RELEASE_REQUIRES_APPROVAL", "true"}};
const Headers kLongGrace{{"SILO_MODULES_SESSIONS_DISCONNECT_GRACE_SECONDS", "60"}};

// n characters of U+00E9 (2 UTF-8 bytes each).
std::string accents(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "\xC3\xA9";
    return s;
}

class HandoffBase : public SessionTest {
protected:
    static std::string sessions_path(const std::string& pn, const std::string& sid) {
        return "/api/items/" + pn + "/edit-sessions/" + sid;
    }
    HttpResult request_handoff(const std::string& token, const std::string& pn, const std::string& sid,
                               const json& body, int on_port = 0) {
        return as(on_port ? on_port : port(), token).post_json(sessions_path(pn, sid) + "/request-handoff", body);
    }
    HttpResult force_release(const std::string& token, const std::string& pn, const std::string& sid, const json& body,
                             int on_port = 0) {
        return as(on_port ? on_port : port(), token)
            .request("DELETE", sessions_path(pn, sid) + "/force-release", body.dump(),
                     {{"Content-Type", "application/json"}});
    }
    HttpResult decline(const std::string& token, const std::string& id, const json& body) {
        return as(port(), token).post_json("/api/handoff-requests/" + id + "/decline", body);
    }
    HttpResult sign(const std::string& token, const std::string& approval_id, const std::string& status,
                    int on_port = 0) {
        return as(on_port ? on_port : port(), token)
            .post_json("/api/approvals/" + approval_id + "/sign", {{"status", status}, {"comment", "decided"}});
    }
    json approval(const std::string& id) {
        auto r = admin().get("/api/approvals/" + id);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    // GET /api/handoff-requests[query] as token's user: the ids listed.
    std::vector<std::string> listed_handoffs(const std::string& token, const std::string& query = "") {
        auto r = as(port(), token).get("/api/handoff-requests" + query);
        EXPECT_EQ(r.status, 200) << query << ": " << r.body;
        std::vector<std::string> ids;
        if (r.js().is_array())
            for (const auto& h : r.js()) ids.push_back(str(h, "id"));
        EXPECT_EQ(r.header("x-total-count"), std::to_string(ids.size())) << query;
        return ids;
    }
    json handoff_row(const std::string& id) {
        auto r = admin().get("/api/handoff-requests");
        EXPECT_EQ(r.status, 200) << r.body;
        for (const auto& h : r.js())
            if (str(h, "id") == id) return h;
        return json();
    }
    std::string handoff_status(const std::string& id) { return str(handoff_row(id), "status"); }
    std::string checkpoint_file(const std::string& pn, const std::string& id) {
        auto r = admin().get("/api/items/" + pn + "/checkpoints/" + id + "/file");
        EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
        return r.body;
    }
    bool session_listed(const std::string& pn, const std::string& sid) {
        for (const auto& s : list_item(admin_token, pn))
            if (str(s, "id") == sid) return true;
        return false;
    }
    // Waits (bounded) until the server has recorded that the workstation's stream closed.
    bool wait_disconnected(const std::string& ws) {
        for (auto deadline = Clock::now() + 5s; Clock::now() < deadline; std::this_thread::sleep_for(50ms))
            if (describe_presence(ws).rfind("NULL", 0) != 0) return true;
        return false;
    }
    long events_of(const std::string& type, const std::string& session_id) const {
        return count("SELECT COUNT(*) FROM events WHERE type = '" + type + "' AND data LIKE '%" + session_id + "%'");
    }
};

class Handoff : public HandoffBase {};
class ForceRelease : public HandoffBase {};

// ---------------------------------------------------------------------------------------------
// Handoff

TEST_P(Handoff, RequestReachesOnlyTheHoldersWorkstationIsAuditedListedAndDeclinable) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto dave = make_user("dave", "editor");
    auto a1 = register_ws(alice, "alice-1");
    auto a2 = register_ws(alice, "alice-2");
    auto b1 = register_ws(bob, "bob-1");
    auto item_id = make_item("HO-1");
    ASSERT_FALSE(a1.empty() || a2.empty() || b1.empty() || item_id.empty());

    auto& watcher = open("carol watching HO-1", carol, "?watch=HO-1");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    auto& s_a2 = open("alice/a2", alice, "?workstation_id=" + a2);
    auto& s_b1 = open("bob/b1", bob, "?workstation_id=" + b1);
    auto& s_bob_plain = open("bob (no workstation)", bob);

    const std::string sid = str(acquire_ok(alice, "HO-1", a1, "sketch", "Sketch001"), "id");
    ASSERT_TRUE(s_a1.wait_for("edit.session_acquired", sid)) << s_a1.all();

    const std::string msg = "I need to fix a dimension in Sketch001, can you save and release?";
    auto r = request_handoff(bob, "HO-1", sid, {{"message", msg}});
    ASSERT_EQ(r.status, 202) << r.body;
    auto j = r.js();
    const std::string hid = str(j, "handoff_id");
    EXPECT_EQ(hid.size(), 36u) << r.body;
    EXPECT_EQ(str(j, "status"), "pending") << r.body;
    EXPECT_EQ(j.value("delivered", json()), json(true)) << r.body;

    // To the holder's workstation, with every field of the contract.
    auto e = s_a1.wait_for("edit.handoff_requested", sid);
    ASSERT_TRUE(e) << s_a1.all();
    auto d = e->js();
    EXPECT_TRUE(e->id.has_value()) << e->raw;
    EXPECT_EQ(str(d, "item_id"), item_id) << e->raw;
    EXPECT_EQ(str(d, "part_number"), "HO-1") << e->raw;
    EXPECT_EQ(str(d, "session_id"), sid) << e->raw;
    EXPECT_EQ(str(d, "requester"), "bob") << e->raw;
    EXPECT_EQ(str(d, "message"), msg) << e->raw;
    EXPECT_EQ(str(d, "handoff_id"), hid) << e->raw;

    // Nobody else: not alice's other workstation, not the requester, not the item's watcher.
    settle({&watcher, &s_a2, &s_b1, &s_bob_plain});
    for (auto* s : {&watcher, &s_a2, &s_b1, &s_bob_plain}) {
        EXPECT_TRUE(s->of("edit.handoff_requested").empty()) << s->all();
    }
    EXPECT_TRUE(s_a2.edit_events().empty()) << s_a2.all();

    // The audit row.
    auto rows = audit("edit.handoff_requested", sid);
    ASSERT_EQ(rows.size(), 1u) << rows.dump();
    EXPECT_EQ(str(rows[0], "actor"), "bob") << rows.dump();
    EXPECT_EQ(str(rows[0], "resource_type"), "edit_session") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "requester"), "bob") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "holder"), "alice") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "message"), msg) << rows.dump();

    // A second request (dave's, no message) on a second session of alice's.
    const std::string sid2 = str(acquire_ok(alice, "HO-1", a1, "partdesign", "Pad001"), "id");
    auto r2 = request_handoff(dave, "HO-1", sid2, json::object());
    ASSERT_EQ(r2.status, 202) << r2.body;
    const std::string hid2 = str(r2.js(), "handoff_id");
    auto e2 = s_a1.wait_for("edit.handoff_requested", sid2);
    ASSERT_TRUE(e2) << s_a1.all();
    EXPECT_EQ(str(e2->js(), "requester"), "dave") << e2->raw;
    EXPECT_EQ(str(e2->js(), "message"), "") << e2->raw;

    // The list: own requests, requests to the caller, all for admins.
    using Ids = std::vector<std::string>;
    EXPECT_EQ(listed_handoffs(bob), Ids{hid});
    EXPECT_EQ(listed_handoffs(dave), Ids{hid2});
    EXPECT_EQ(listed_handoffs(alice), (Ids{hid2, hid})) << "newest first";
    EXPECT_EQ(listed_handoffs(carol), Ids{});
    EXPECT_EQ(listed_handoffs(admin_token), (Ids{hid2, hid}));
    EXPECT_EQ(listed_handoffs(alice, "?session_id=" + sid), Ids{hid});
    EXPECT_EQ(listed_handoffs(admin_token, "?session_id=" + sid2), Ids{hid2});
    EXPECT_EQ(listed_handoffs(bob, "?session_id=" + sid2), Ids{}) << "dave's request is not bob's business";
    EXPECT_EQ(listed_handoffs(alice, "?status=pending"), (Ids{hid2, hid}));
    EXPECT_EQ(listed_handoffs(alice, "?status=declined"), Ids{});
    {
        auto first = admin().get("/api/handoff-requests?limit=1");
        ASSERT_EQ(first.status, 200) << first.body;
        ASSERT_EQ(first.js().size(), 1u) << first.body;
        EXPECT_EQ(str(first.js()[0], "id"), hid2) << "paged, newest first";
        EXPECT_EQ(first.header("x-total-count"), "2");
        auto page = admin().get("/api/handoff-requests?limit=1&offset=1");
        ASSERT_EQ(page.status, 200) << page.body;
        ASSERT_EQ(page.js().size(), 1u) << page.body;
        EXPECT_EQ(str(page.js()[0], "id"), hid);
        EXPECT_EQ(page.header("x-total-count"), "2");
        auto h = page.js()[0];
        EXPECT_EQ(str(h, "session_id"), sid) << h.dump();
        EXPECT_EQ(str(h, "requester"), "bob") << h.dump();
        EXPECT_EQ(str(h, "holder"), "alice") << h.dump();
        EXPECT_EQ(str(h, "message"), msg) << h.dump();
        EXPECT_EQ(str(h, "status"), "pending") << h.dump();
        EXPECT_TRUE(is_rfc3339_utc(h.value("created_at", json()))) << h.dump();
    }
    EXPECT_EQ(as(port(), alice).get("/api/handoff-requests?status=bogus").status, 400);
    EXPECT_EQ(as(port(), alice).get("/api/handoff-requests?status=PENDING").status, 400);

    // Decline: not by the requester, by the holder once, not twice.
    const auto before_decline = s_b1.got.size();
    auto by_bob = decline(bob, hid, {{"message", "mine anyway"}});
    EXPECT_EQ(by_bob.status, 403) << by_bob.body;
    EXPECT_EQ(decline(carol, hid, json::object()).status, 403) << "a viewer may not write";
    EXPECT_EQ(handoff_status(hid), "pending");
    auto dec = decline(alice, hid, {{"message", "Busy until five"}});
    ASSERT_EQ(dec.status, 200) << dec.body;
    EXPECT_EQ(str(dec.js(), "status"), "declined") << dec.body;
    EXPECT_EQ(str(dec.js(), "id"), hid) << dec.body;
    for (auto* s : {&s_b1, &s_bob_plain}) {
        SCOPED_TRACE(s->name);
        auto de = s->wait_for("edit.handoff_declined", sid);
        ASSERT_TRUE(de) << s->all();
        auto dd = de->js();
        EXPECT_EQ(str(dd, "handoff_id"), hid) << de->raw;
        EXPECT_EQ(str(dd, "session_id"), sid) << de->raw;
        EXPECT_EQ(str(dd, "holder"), "alice") << de->raw;
        EXPECT_EQ(str(dd, "message"), "Busy until five") << de->raw;
    }
    EXPECT_GT(s_b1.got.size(), before_decline);
    auto again = decline(alice, hid, {{"message", "still no"}});
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_EQ(decline(alice, "00000000-0000-4000-8000-000000000000", json::object()).status, 404);
    EXPECT_EQ(listed_handoffs(bob, "?status=declined"), Ids{hid});
    settle({&watcher, &s_a1, &s_a2});
    for (auto* s : {&watcher, &s_a1, &s_a2}) {
        EXPECT_TRUE(s->of("edit.handoff_declined").empty()) << s->all();
    }

    // The holder releases: the pending request is fulfilled, the declined one stays declined.
    ASSERT_EQ(release(alice, "HO-1", sid2).status, 204);
    ASSERT_EQ(release(alice, "HO-1", sid).status, 204);
    EXPECT_EQ(handoff_status(hid2), "fulfilled");
    EXPECT_EQ(handoff_status(hid), "declined");
    EXPECT_EQ(admin().get("/api/audit/verify").js().value("ok", false), true);
}

TEST_P(Handoff, BadRequestsAreRefusedAndWriteNothing) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto vera = make_user("vera", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    make_item("HO-2");
    make_item("HO-2B");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    const std::string sid = str(acquire_ok(alice, "HO-2", a1, "sketch", "Sketch001"), "id");
    ASSERT_TRUE(s_a1.wait_for("edit.session_acquired", sid)) << s_a1.all();

    struct Case {
        std::string what, token, pn, sid;
        json body;
        int status;
    };
    const std::vector<Case> cases{
        {"handoff to oneself", alice, "HO-2", sid, {{"message", "me"}}, 409},
        {"session of another item", bob, "HO-2B", sid, {{"message", "x"}}, 404},
        {"unknown item", bob, "NO-SUCH-9", sid, {{"message", "x"}}, 404},
        {"unknown session", bob, "HO-2", "00000000-0000-4000-8000-000000000000", {{"message", "x"}}, 404},
        {"not a uuid", bob, "HO-2", "not-a-session", {{"message", "x"}}, 404},
        {"message over 2000 characters", bob, "HO-2", sid, {{"message", std::string(2001, 'm')}}, 400},
        {"message over 2000 characters (multi-byte)", bob, "HO-2", sid, {{"message", accents(2001)}}, 400},
        {"message not a string", bob, "HO-2", sid, {{"message", 42}}, 400},
        {"body not an object", bob, "HO-2", sid, json::array({"x"}), 400},
        {"viewer", vera, "HO-2", sid, {{"message", "x"}}, 403},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto r = request_handoff(c.token, c.pn, c.sid, c.body);
        EXPECT_EQ(r.status, c.status) << r.body;
        EXPECT_FALSE(str(r.js(), "error").empty()) << r.body;
        EXPECT_FALSE(str(r.js(), "message").empty()) << r.body;
    }
    {
        auto r = as(port(), bob).request("POST", sessions_path("HO-2", sid) + "/request-handoff", "{\"message\":",
                                         {{"Content-Type", "application/json"}});
        EXPECT_EQ(r.status, 400) << "malformed JSON: " << r.body;
    }
    EXPECT_EQ(count("SELECT COUNT(*) FROM handoff_requests"), 0);
    EXPECT_EQ(audit("edit.handoff_requested").size(), 0u);
    settle({&s_a1});
    EXPECT_TRUE(s_a1.of("edit.handoff_requested").empty()) << s_a1.all();

    // Exactly 2000 characters is allowed, counted as characters (not bytes).
    const std::string ascii(2000, 'a');
    auto ok = request_handoff(bob, "HO-2", sid, {{"message", ascii}});
    EXPECT_EQ(ok.status, 202) << ok.body;
    // (one pending request per requester: alice declines before bob asks again)
    ASSERT_EQ(decline(alice, str(ok.js(), "handoff_id"), json::object()).status, 200);
    auto wide = request_handoff(bob, "HO-2", sid, {{"message", accents(2000)}});
    EXPECT_EQ(wide.status, 202) << "2000 characters (4000 UTF-8 bytes) must be accepted: " << wide.body;
    auto e = s_a1.wait_for("edit.handoff_requested", sid);
    ASSERT_TRUE(e) << s_a1.all();
    EXPECT_EQ(str(e->js(), "message"), ascii);
}

// The holder's workstation has no open stream: delivered false; it gets the event on replay.
TEST_P(Handoff, UndeliveredRequestIsReplayedWhenTheHoldersWorkstationReconnects) {
    boot(kLongGrace);
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto a1 = register_ws(alice, "alice-1");
    auto a2 = register_ws(alice, "alice-2");
    auto item_id = make_item("HO-3");

    std::int64_t last_seen_id = 0;
    std::string sid;
    {
        auto& s_a1 = open("alice/a1 (first)", alice, "?workstation_id=" + a1);
        sid = str(acquire_ok(alice, "HO-3", a1, "sketch", "Sketch001"), "id");
        auto e = s_a1.wait_for("edit.session_acquired", sid);
        ASSERT_TRUE(e && e->id) << s_a1.all();
        last_seen_id = *e->id;
        s_a1.sse->close();
    }
    ASSERT_TRUE(wait_disconnected(a1)) << describe_presence(a1);
    // alice's other workstation is online: it is not the holder's.
    auto& s_a2 = open("alice/a2", alice, "?workstation_id=" + a2);

    auto r = request_handoff(bob, "HO-3", sid, {{"message", "please"}});
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.js().value("delivered", json()), json(false)) << r.body;
    const std::string hid = str(r.js(), "handoff_id");
    EXPECT_EQ(str(r.js(), "status"), "pending");
    settle({&s_a2});
    EXPECT_TRUE(s_a2.of("edit.handoff_requested").empty()) << s_a2.all();
    EXPECT_TRUE(session_listed("HO-3", sid)) << "the session must survive within the grace";

    // Reconnecting with the last id it saw (query form, then header form): replayed.
    auto& back = open("alice/a1 back", alice, "?workstation_id=" + a1 + "&last_event_id=" + std::to_string(last_seen_id));
    auto e = back.wait_for("edit.handoff_requested", sid);
    ASSERT_TRUE(e) << back.all();
    EXPECT_EQ(str(e->js(), "handoff_id"), hid) << e->raw;
    EXPECT_EQ(str(e->js(), "requester"), "bob") << e->raw;
    EXPECT_EQ(str(e->js(), "message"), "please") << e->raw;
    EXPECT_EQ(str(e->js(), "item_id"), item_id) << e->raw;
    {
        Stream hdr{"alice/a1 header", std::make_unique<SseClient>(
                                          port(), "/api/events?workstation_id=" + a1,
                                          std::map<std::string, std::string>{
                                              {"Authorization", "Bearer " + alice},
                                              {"Last-Event-ID", std::to_string(last_seen_id)}}),
                   {}, {}};
        ASSERT_EQ(hdr.sse->status(), 200) << hdr.sse->error_body();
        auto f = hdr.wait_for("edit.handoff_requested", sid);
        ASSERT_TRUE(f) << "not replayed with the Last-Event-ID header: " << hdr.all();
        EXPECT_EQ(str(f->js(), "handoff_id"), hid) << f->raw;
    }
    // A later request, with a1 online again, is delivered (after alice declined the first:
    // one pending request per requester).
    ASSERT_EQ(decline(alice, hid, json::object()).status, 200);
    auto r2 = request_handoff(bob, "HO-3", sid, {{"message", "now?"}});
    ASSERT_EQ(r2.status, 202) << r2.body;
    EXPECT_EQ(r2.js().value("delivered", json()), json(true)) << r2.body;
}

// Pending requests settle when the session ends: fulfilled when the holder released it
// (directly or by a checkpoint), superseded when it expired or was force-released.
TEST_P(Handoff, PendingRequestsSettleWhenTheSessionEnds) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    make_item("HO-4");
    auto& watcher = open("carol watching HO-4", carol, "?watch=HO-4");

    auto dave = make_user("dave", "editor");
    auto ask = [&](const std::string& sid, const std::string& who = "") {
        auto r = request_handoff(who.empty() ? bob : who, "HO-4", sid, {{"message", "please"}});
        EXPECT_EQ(r.status, 202) << r.body;
        return str(r.js(), "handoff_id");
    };
    const std::string released = str(acquire_ok(alice, "HO-4", a1, "sketch", "S1"), "id");
    const std::string by_checkpoint = str(acquire_ok(alice, "HO-4", a1, "sketch", "S2"), "id");
    const std::string forced = str(acquire_ok(alice, "HO-4", a1, "sketch", "S3"), "id");
    const std::string expired = str(acquire_ok(alice, "HO-4", a1, "sketch", "S4"), "id");
    const std::string h_released = ask(released), h_checkpoint = ask(by_checkpoint), h_forced = ask(forced),
                      h_expired = ask(expired);
    const std::string h_forced2 = ask(forced, dave);

    ASSERT_EQ(release(alice, "HO-4", released).status, 204);
    auto cp = push_checkpoint(alice, "HO-4", blob(500, 4), "sketch_close", "0", by_checkpoint);
    ASSERT_EQ(cp.status, 201) << cp.body;
    auto fr = force_release(admin_token, "HO-4", forced, {{"reason", "stuck"}});
    ASSERT_EQ(fr.status, 200) << fr.body;
    server->sql("UPDATE edit_sessions SET last_heartbeat = 1000 WHERE id = '" + expired + "'");
    auto ex = watcher.wait_for("edit.session_released", expired, std::chrono::seconds(kSweepSeconds + 5));
    ASSERT_TRUE(ex) << watcher.all();
    ASSERT_EQ(str(ex->js(), "reason"), "expired");

    EXPECT_EQ(handoff_status(h_released), "fulfilled");
    EXPECT_EQ(handoff_status(h_checkpoint), "fulfilled");
    EXPECT_EQ(handoff_status(h_forced), "superseded");
    EXPECT_EQ(handoff_status(h_forced2), "superseded");
    EXPECT_EQ(handoff_status(h_expired), "superseded");
    auto row = handoff_row(h_forced);
    EXPECT_TRUE(is_rfc3339_utc(row.value("resolved_at", json()))) << row.dump();
    using Ids = std::vector<std::string>;
    EXPECT_EQ(listed_handoffs(bob, "?status=pending"), Ids{});
    EXPECT_EQ(listed_handoffs(bob, "?status=superseded").size(), 2u);
    EXPECT_EQ(listed_handoffs(dave, "?status=superseded"), Ids{h_forced2});
    EXPECT_EQ(listed_handoffs(alice, "?status=fulfilled").size(), 2u);
    // A settled request can no longer be declined; an ended session takes no new request.
    EXPECT_EQ(decline(alice, h_forced, json::object()).status, 409);
    EXPECT_EQ(request_handoff(bob, "HO-4", released, {{"message", "late"}}).status, 404);
}

// ---------------------------------------------------------------------------------------------
// Force-release, direct mode

TEST_P(ForceRelease, DirectModePreservesUploadedWorkAndNotifiesHolderAndWatchers) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    auto a2 = register_ws(alice, "alice-2");
    auto b1 = register_ws(bob, "bob-1");
    auto item_id = make_item("FR-1");
    {
        auto modules = as(port(), carol).get("/api/modules");
        ASSERT_EQ(modules.status, 200) << modules.body;
        EXPECT_EQ(modules.js()["sessions"].value("force_release_requires_approval", json()), json(false))
            << "direct mode is the default";
    }
    auto& watcher = open("carol watching FR-1", carol, "?watch=FR-1");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    auto& s_a2 = open("alice/a2", alice, "?workstation_id=" + a2);
    auto& s_b1 = open("bob/b1", bob, "?workstation_id=" + b1 + "&watch=FR-1");

    const std::string sid = str(acquire_ok(alice, "FR-1", a1, "sketch", "Sketch001"), "id");
    ASSERT_TRUE(s_a1.wait_for("edit.session_acquired", sid)) << s_a1.all();
    const std::string work = blob(300000, 7);
    auto pw = put_work(alice, "FR-1", sid, work);
    ASSERT_EQ(pw.status, 200) << pw.body;
    auto h = request_handoff(bob, "FR-1", sid, {{"message", "please"}});
    ASSERT_EQ(h.status, 202) << h.body;

    const std::string reason = "Production emergency, need to release stuck lock";
    auto r = force_release(admin_token, "FR-1", sid, {{"reason", reason}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = r.js();
    EXPECT_EQ(str(j, "status"), "released") << r.body;
    EXPECT_EQ(str(j, "session_id"), sid) << r.body;
    const std::string cid = str(j, "checkpoint_id");
    ASSERT_EQ(cid.size(), 36u) << r.body;

    // The session is gone, and its object free.
    EXPECT_FALSE(session_listed("FR-1", sid));
    EXPECT_EQ(session_rows(), 0);
    EXPECT_EQ(release(alice, "FR-1", sid).status, 404);
    EXPECT_EQ(force_release(admin_token, "FR-1", sid, {{"reason", "again"}}).status, 404);

    // edit.force_released to the holder's workstation.
    auto e = s_a1.wait_for("edit.force_released", sid);
    ASSERT_TRUE(e) << s_a1.all();
    auto d = e->js();
    EXPECT_EQ(str(d, "item_id"), item_id) << e->raw;
    EXPECT_EQ(str(d, "part_number"), "FR-1") << e->raw;
    EXPECT_EQ(str(d, "session_id"), sid) << e->raw;
    EXPECT_EQ(str(d, "admin"), "admin") << e->raw;
    EXPECT_EQ(str(d, "reason"), reason) << e->raw;
    EXPECT_EQ(str(d, "original_holder"), "alice") << e->raw;
    EXPECT_EQ(str(d, "checkpoint_id"), cid) << e->raw;
    ASSERT_TRUE(d.contains("approval_id")) << e->raw;
    EXPECT_TRUE(d["approval_id"].is_null()) << e->raw;

    // edit.session_released (force_released) to the item's watchers, the holder's included.
    for (auto* s : {&watcher, &s_b1, &s_a1}) {
        SCOPED_TRACE(s->name);
        auto rel = s->wait_for("edit.session_released", sid);
        ASSERT_TRUE(rel) << s->all();
        EXPECT_EQ(str(rel->js(), "reason"), "force_released") << rel->raw;
        EXPECT_EQ(str(rel->js(), "user"), "alice") << rel->raw;
        EXPECT_EQ(str(rel->js(), "object_id"), "Sketch001") << rel->raw;
    }
    // checkpoint.created for the preserved work, to the item's watchers.
    {
        auto ce = watcher.wait_for("checkpoint.created");
        ASSERT_TRUE(ce) << watcher.all();
        EXPECT_EQ(str(ce->js(), "checkpoint_id"), cid) << ce->raw;
        EXPECT_EQ(str(ce->js(), "context"), "force_release") << ce->raw;
        EXPECT_EQ(str(ce->js(), "user"), "alice") << ce->raw;
        EXPECT_EQ(str(ce->js(), "part_number"), "FR-1") << ce->raw;
    }
    settle({&watcher, &s_a2, &s_b1});
    for (auto* s : {&watcher, &s_a2, &s_b1}) {
        EXPECT_TRUE(s->of("edit.force_released").empty()) << s->all();
    }
    EXPECT_EQ(watcher.of("checkpoint.created").size(), 1u) << watcher.all();
    EXPECT_EQ(watcher.of("edit.session_released", sid).size(), 1u) << watcher.all();
    EXPECT_TRUE(s_a2.edit_events().empty()) << s_a2.all();

    // The preserved work: a pinned force_release checkpoint of alice's, byte for byte.
    auto c = admin().get("/api/items/FR-1/checkpoints/" + cid);
    ASSERT_EQ(c.status, 200) << c.body;
    auto cj = c.js();
    EXPECT_EQ(str(cj, "context"), "force_release") << c.body;
    EXPECT_EQ(cj.value("pinned", json()), json(true)) << c.body;
    EXPECT_EQ(str(cj, "user"), "alice") << c.body;
    EXPECT_EQ(str(cj, "item_id"), item_id) << c.body;
    EXPECT_EQ(str(cj, "file_hash"), sha256_of(work)) << c.body;
    EXPECT_EQ(cj.value("file_size", json()), json(work.size())) << c.body;
    const std::string got = checkpoint_file("FR-1", cid);
    EXPECT_EQ(got.size(), work.size());
    EXPECT_TRUE(got == work) << "the preserved checkpoint differs from the uploaded work";
    // It is listed, and it is alice's latest.
    auto latest = admin().get("/api/items/FR-1/checkpoints/latest?user=alice");
    ASSERT_EQ(latest.status, 200) << latest.body;
    EXPECT_EQ(str(latest.js(), "id"), cid) << latest.body;

    // The audit row.
    auto rows = audit("edit.force_released", sid);
    ASSERT_EQ(rows.size(), 1u) << rows.dump();
    auto det = rows[0]["details"];
    EXPECT_EQ(str(rows[0], "actor"), "admin") << rows.dump();
    EXPECT_EQ(str(rows[0], "resource_type"), "edit_session") << rows.dump();
    EXPECT_EQ(str(det, "admin"), "admin") << rows.dump();
    EXPECT_EQ(str(det, "reason"), reason) << rows.dump();
    EXPECT_EQ(str(det, "holder"), "alice") << rows.dump();
    ASSERT_TRUE(det.contains("approval_id")) << rows.dump();
    EXPECT_TRUE(det["approval_id"].is_null()) << rows.dump();
    EXPECT_EQ(str(det, "checkpoint_id"), cid) << rows.dump();
    EXPECT_EQ(admin().get("/api/audit/verify").js().value("ok", false), true);
    EXPECT_EQ(handoff_status(str(h.js(), "handoff_id")), "superseded");
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals"), 0) << "direct mode makes no approval";

    // The object is free again.
    acquire_ok(bob, "FR-1", b1, "sketch", "Sketch001");
}

TEST_P(ForceRelease, WithoutWorkItReferencesACheckpointMadeDuringTheSessionElseNone) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FR-2");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);

    // A checkpoint from before the session does not count.
    auto before = push_checkpoint(alice, "FR-2", blob(1000, 1));
    ASSERT_EQ(before.status, 201) << before.body;
    std::this_thread::sleep_for(20ms);
    const std::string none_sid = str(acquire_ok(alice, "FR-2", a1, "sketch", "Sketch001"), "id");
    // Nor does another user's made during the session.
    ASSERT_EQ(push_checkpoint(bob, "FR-2", blob(1000, 2)).status, 201);
    auto r = force_release(admin_token, "FR-2", none_sid, {{"reason", "cleanup"}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(r.js().contains("checkpoint_id")) << r.body;
    EXPECT_TRUE(r.js()["checkpoint_id"].is_null()) << r.body;
    auto e = s_a1.wait_for("edit.force_released", none_sid);
    ASSERT_TRUE(e) << s_a1.all();
    EXPECT_TRUE(e->js().contains("checkpoint_id") && e->js()["checkpoint_id"].is_null()) << e->raw;
    auto rows = audit("edit.force_released", none_sid);
    ASSERT_EQ(rows.size(), 1u) << rows.dump();
    EXPECT_TRUE(rows[0]["details"].contains("checkpoint_id") && rows[0]["details"]["checkpoint_id"].is_null())
        << rows.dump();

    // A checkpoint alice pushed during the session (two: the newer one is referenced).
    std::this_thread::sleep_for(20ms);
    const std::string sid = str(acquire_ok(alice, "FR-2", a1, "sketch", "Sketch001"), "id");
    auto c1 = push_checkpoint(alice, "FR-2", blob(2000, 3));
    ASSERT_EQ(c1.status, 201) << c1.body;
    std::this_thread::sleep_for(20ms);
    const std::string bytes = blob(4096, 9);
    auto c2 = push_checkpoint(alice, "FR-2", bytes);
    ASSERT_EQ(c2.status, 201) << c2.body;
    const std::string c2id = str(c2.js(), "id");
    EXPECT_TRUE(session_listed("FR-2", sid)) << "a checkpoint without session_id keeps the session";
    const long checkpoints_before = count("SELECT COUNT(*) FROM checkpoints");

    auto r2 = force_release(admin_token, "FR-2", sid, {{"reason", "cleanup"}});
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(str(r2.js(), "checkpoint_id"), c2id) << r2.body;
    EXPECT_EQ(count("SELECT COUNT(*) FROM checkpoints"), checkpoints_before) << "no new checkpoint without work";
    auto e2 = s_a1.wait_for("edit.force_released", sid);
    ASSERT_TRUE(e2) << s_a1.all();
    EXPECT_EQ(str(e2->js(), "checkpoint_id"), c2id) << e2->raw;
    auto rows2 = audit("edit.force_released", sid);
    ASSERT_EQ(rows2.size(), 1u) << rows2.dump();
    EXPECT_EQ(str(rows2[0]["details"], "checkpoint_id"), c2id) << rows2.dump();
    EXPECT_TRUE(checkpoint_file("FR-2", c2id) == bytes);
}

TEST_P(ForceRelease, BadInputIsRefusedAndChangesNothing) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto vera = make_user("vera", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FR-3");
    make_item("FR-3B");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    const std::string sid = str(acquire_ok(alice, "FR-3", a1, "sketch", "Sketch001"), "id");
    ASSERT_EQ(put_work(alice, "FR-3", sid, blob(1000, 5)).status / 100, 2);
    ASSERT_TRUE(s_a1.wait_for("edit.session_acquired", sid)) << s_a1.all();
    const long audit_rows_before = count("SELECT COUNT(*) FROM audit_log");

    struct Case {
        std::string what, token, pn, sid;
        std::string body;
        int status;
    };
    const json good{{"reason", "stuck"}};
    const std::vector<Case> cases{
        {"an editor (even the holder)", alice, "FR-3", sid, good.dump(), 403},
        {"another editor", bob, "FR-3", sid, good.dump(), 403},
        {"a viewer", vera, "FR-3", sid, good.dump(), 403},
        {"no token", "", "FR-3", sid, good.dump(), 401},
        {"missing reason", admin_token, "FR-3", sid, "{}", 400},
        {"empty reason", admin_token, "FR-3", sid, R"({"reason":""})", 400},
        {"blank reason", admin_token, "FR-3", sid, R"({"reason":"   \t "})", 400},
        {"reason not a string", admin_token, "FR-3", sid, R"({"reason":17})", 400},
        {"null reason", admin_token, "FR-3", sid, R"({"reason":null})", 400},
        {"approvers not an array", admin_token, "FR-3", sid, R"({"reason":"x","approvers":"admin"})", 400},
        {"malformed JSON", admin_token, "FR-3", sid, R"({"reason":)", 400},
        {"session of another item", admin_token, "FR-3B", sid, good.dump(), 404},
        {"unknown item", admin_token, "NO-SUCH-3", sid, good.dump(), 404},
        {"unknown session", admin_token, "FR-3", "00000000-0000-4000-8000-000000000000", good.dump(), 404},
        {"not a uuid", admin_token, "FR-3", "nope", good.dump(), 404},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto r = as(port(), c.token).request("DELETE", sessions_path(c.pn, c.sid) + "/force-release", c.body,
                                             {{"Content-Type", "application/json"}});
        EXPECT_EQ(r.status, c.status) << r.body;
        EXPECT_FALSE(str(r.js(), "error").empty()) << r.body;
        EXPECT_TRUE(session_listed("FR-3", sid)) << "the session was touched";
    }
    EXPECT_EQ(session_rows(), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM checkpoints"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), audit_rows_before) << "a refused request wrote an audit row";
    EXPECT_EQ(events_of("edit.force_released", sid), 0);
    settle({&s_a1});
    EXPECT_TRUE(s_a1.of("edit.force_released").empty()) << s_a1.all();
    EXPECT_TRUE(s_a1.of("edit.session_released").empty()) << s_a1.all();
    // The route still works afterwards.
    EXPECT_EQ(force_release(admin_token, "fr-3", sid, good).status, 200) << "part numbers match case-insensitively";
}

// The holder is offline when it happens: on reconnecting with its last event id it gets
// edit.force_released, and its preserved work is there.
TEST_P(ForceRelease, OfflineHolderGetsTheEventOnReplayAndItsWorkIsPreserved) {
    boot(kLongGrace);
    auto alice = make_user("alice", "editor");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FR-4");
    {
        auto m = admin().get("/api/modules").js();
        ASSERT_EQ(m["sessions"].value("disconnect_grace_seconds", json()), json(60)) << m.dump();
    }
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    const std::string sid = str(acquire_ok(alice, "FR-4", a1, "sketch", "Sketch001"), "id");
    const std::string work = blob(70000, 11);
    ASSERT_EQ(put_work(alice, "FR-4", sid, work).status / 100, 2);
    auto acq = s_a1.wait_for("edit.session_acquired", sid);
    ASSERT_TRUE(acq && acq->id) << s_a1.all();
    settle({&s_a1});
    std::int64_t last = *acq->id;
    for (const auto& e : s_a1.got)
        if (e.id) last = std::max(last, *e.id);
    s_a1.sse->close();
    ASSERT_TRUE(wait_disconnected(a1)) << describe_presence(a1);

    auto r = force_release(admin_token, "FR-4", sid, {{"reason", "alice is on holiday"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string cid = str(r.js(), "checkpoint_id");
    ASSERT_EQ(cid.size(), 36u) << r.body;

    auto& back = open("alice/a1 back", alice, "?workstation_id=" + a1 + "&last_event_id=" + std::to_string(last));
    auto e = back.wait_for("edit.force_released", sid);
    ASSERT_TRUE(e) << back.all();
    EXPECT_EQ(str(e->js(), "reason"), "alice is on holiday") << e->raw;
    EXPECT_EQ(str(e->js(), "original_holder"), "alice") << e->raw;
    EXPECT_EQ(str(e->js(), "checkpoint_id"), cid) << e->raw;
    settle({&back});
    EXPECT_EQ(back.of("edit.force_released", sid).size(), 1u) << back.all();
    EXPECT_TRUE(checkpoint_file("FR-4", cid) == work) << "the preserved work differs from the upload";
    // Without a last event id there is no replay.
    auto& fresh = open("alice/a1 fresh", alice, "?workstation_id=" + a1);
    settle({&fresh});
    EXPECT_TRUE(fresh.of("edit.force_released").empty()) << fresh.all();
}

// Force-release racing the holder's own release, 20 rounds on distinct sessions: one wins.
TEST_P(ForceRelease, RacingTheHoldersReleaseHasExactlyOneWinner) {
    boot();
    auto alice = make_user("alice", "editor");
    auto carol = make_user("carol", "viewer");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FR-5");
    auto& watcher = open("carol watching FR-5", carol, "?watch=FR-5");

    constexpr int kRounds = 20;
    std::vector<std::string> sids;
    int forced_wins = 0, holder_wins = 0;
    for (int i = 0; i < kRounds; ++i) {
        SCOPED_TRACE("round " + std::to_string(i));
        const std::string sid = str(acquire_ok(alice, "FR-5", a1, "sketch", "Sketch" + std::to_string(i)), "id");
        ASSERT_EQ(sid.size(), 36u);
        sids.push_back(sid);
        if (i % 2) {
            ASSERT_EQ(put_work(alice, "FR-5", sid, blob(5000, static_cast<unsigned>(i))).status / 100, 2);
        }
        HttpClient ca = as(port(), admin_token), ch = as(port(), alice);
        HttpResult fr, rel;
        std::atomic<int> ready{0};
        std::thread t1([&] {
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();
            fr = ca.request("DELETE", sessions_path("FR-5", sid) + "/force-release", R"({"reason":"race"})",
                            {{"Content-Type", "application/json"}});
        });
        std::thread t2([&] {
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();
            rel = ch.del(sessions_path("FR-5", sid));
        });
        t1.join();
        t2.join();
        const bool forced = fr.status == 200 && rel.status == 404;
        const bool held = rel.status == 204 && fr.status == 404;
        EXPECT_TRUE(forced || held) << "force-release " << fr.status << " " << fr.body << "; release " << rel.status
                                    << " " << rel.body;
        forced_wins += forced;
        holder_wins += held;
    }
    for (const auto& sid : sids) ASSERT_TRUE(watcher.wait_for("edit.session_released", sid)) << watcher.all();
    settle({&watcher});
    for (const auto& sid : sids) {
        SCOPED_TRACE(sid);
        auto rel = watcher.of("edit.session_released", sid);
        EXPECT_EQ(rel.size(), 1u) << watcher.all();
        EXPECT_EQ(events_of("edit.session_released", sid), 1);
        const long f = events_of("edit.force_released", sid);
        EXPECT_EQ(static_cast<long>(audit("edit.force_released", sid).size()), f);
        if (!rel.empty()) {
            EXPECT_EQ(str(rel[0].js(), "reason"), f == 1 ? "force_released" : "released");
        }
    }
    EXPECT_EQ(session_rows(), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals WHERE state = 'pending'"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM force_release_requests"), 0);
    EXPECT_EQ(forced_wins + holder_wins, kRounds);
    std::cout << "[ race ] force-release won " << forced_wins << ", the holder " << holder_wins << "\n";
}

// ---------------------------------------------------------------------------------------------
// Force-release, approval mode

TEST_P(ForceRelease, ApprovalModeWaitsForASecondAdminsApproval) {
    boot(kApprovalMode);
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto admin2 = make_user("admin2", "admin");
    auto a1 = register_ws(alice, "alice-1");
    auto a2 = register_ws(alice, "alice-2");
    auto b1 = register_ws(bob, "bob-1");
    auto item_id = make_item("FRA-1");
    {
        auto m = admin().get("/api/modules").js();
        EXPECT_EQ(m["sessions"].value("force_release_requires_approval", json()), json(true)) << m.dump();
        EXPECT_EQ(m["sessions"].value("force_release_workflow", json()), json("session-override")) << m.dump();
        EXPECT_EQ(m["approvals"].value("allow_self_approval", json()), json(false)) << m.dump();
        auto wf = admin().get("/api/workflows/session-override");
        ASSERT_EQ(wf.status, 200) << wf.body;
        ASSERT_EQ(wf.js()["gates"].size(), 1u) << wf.body;
        EXPECT_EQ(str(wf.js()["gates"][0], "role"), "admin") << wf.body;
    }
    auto& watcher = open("carol watching FRA-1", carol, "?watch=FRA-1");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    auto& s_a2 = open("alice/a2", alice, "?workstation_id=" + a2);
    auto& s_b1 = open("bob/b1", bob, "?workstation_id=" + b1);
    const std::string sid = str(acquire_ok(alice, "FRA-1", a1, "sketch", "Sketch001"), "id");
    const std::string work = blob(20000, 21);
    ASSERT_EQ(put_work(alice, "FRA-1", sid, work).status / 100, 2);

    auto r = force_release(admin_token, "FRA-1", sid, {{"reason", "needs review"}});
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(str(r.js(), "status"), "pending_approval") << r.body;
    auto a = r.js()["approval"];
    const std::string aid = str(a, "id");
    ASSERT_EQ(aid.size(), 36u) << r.body;
    EXPECT_EQ(str(a, "state"), "pending") << r.body;
    EXPECT_EQ(str(a, "workflow"), "session-override") << r.body;
    EXPECT_EQ(str(a, "resource_type"), "edit_session") << r.body;
    EXPECT_EQ(str(a, "resource_id"), sid) << r.body;
    EXPECT_EQ(str(a, "item_id"), item_id) << r.body;
    EXPECT_EQ(str(a, "created_by"), "admin") << r.body;

    // Pending: the holder's workstation is told; the session is still held.
    auto p = s_a1.wait_for("edit.force_release_pending", sid);
    ASSERT_TRUE(p) << s_a1.all();
    EXPECT_EQ(str(p->js(), "admin"), "admin") << p->raw;
    EXPECT_EQ(str(p->js(), "reason"), "needs review") << p->raw;
    EXPECT_EQ(str(p->js(), "approval_id"), aid) << p->raw;
    EXPECT_EQ(str(p->js(), "part_number"), "FRA-1") << p->raw;
    EXPECT_TRUE(session_listed("FRA-1", sid));
    auto req_rows = audit("edit.force_release_requested", sid);
    ASSERT_EQ(req_rows.size(), 1u) << req_rows.dump();
    EXPECT_EQ(str(req_rows[0]["details"], "approval_id"), aid) << req_rows.dump();
    EXPECT_EQ(str(req_rows[0]["details"], "reason"), "needs review") << req_rows.dump();
    EXPECT_EQ(audit("edit.force_released", sid).size(), 0u);

    // A second request while pending: 409 with the same approval, nothing new.
    auto dup = force_release(admin2, "FRA-1", sid, {{"reason", "me too"}});
    ASSERT_EQ(dup.status, 409) << dup.body;
    EXPECT_EQ(str(dup.js(), "error"), "conflict") << dup.body;
    EXPECT_EQ(str(dup.js()["approval"], "id"), aid) << dup.body;
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals"), 1);

    // The asking admin may not sign it; neither may an editor.
    EXPECT_EQ(sign(admin_token, aid, "approved").status, 403);
    EXPECT_EQ(sign(bob, aid, "approved").status, 403);
    EXPECT_EQ(sign(alice, aid, "rejected").status, 403) << "the holder is no admin";
    EXPECT_TRUE(session_listed("FRA-1", sid));
    EXPECT_EQ(str(approval(aid), "state"), "pending");
    {
        auto inbox = as(port(), admin2).get("/api/approvals?signer=me");
        ASSERT_EQ(inbox.status, 200) << inbox.body;
        bool found = false;
        for (const auto& x : inbox.js()) found = found || str(x, "id") == aid;
        EXPECT_TRUE(found) << "not in admin2's inbox: " << inbox.body;
    }

    // admin2 approves: released as in direct mode, with approval_id.
    auto s = sign(admin2, aid, "approved");
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(str(s.js(), "state"), "approved") << s.body;
    EXPECT_FALSE(session_listed("FRA-1", sid));
    auto e = s_a1.wait_for("edit.force_released", sid);
    ASSERT_TRUE(e) << s_a1.all();
    EXPECT_EQ(str(e->js(), "approval_id"), aid) << e->raw;
    EXPECT_EQ(str(e->js(), "admin"), "admin") << e->raw;
    EXPECT_EQ(str(e->js(), "reason"), "needs review") << e->raw;
    EXPECT_EQ(str(e->js(), "original_holder"), "alice") << e->raw;
    const std::string cid = str(e->js(), "checkpoint_id");
    ASSERT_EQ(cid.size(), 36u) << e->raw;
    EXPECT_TRUE(checkpoint_file("FRA-1", cid) == work);
    auto rel = watcher.wait_for("edit.session_released", sid);
    ASSERT_TRUE(rel) << watcher.all();
    EXPECT_EQ(str(rel->js(), "reason"), "force_released") << rel->raw;
    auto rows = audit("edit.force_released", sid);
    ASSERT_EQ(rows.size(), 1u) << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "approval_id"), aid) << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "admin"), "admin") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "reason"), "needs review") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "holder"), "alice") << rows.dump();
    EXPECT_EQ(str(rows[0]["details"], "checkpoint_id"), cid) << rows.dump();
    settle({&watcher, &s_a2, &s_b1});
    for (auto* x : {&watcher, &s_a2, &s_b1}) {
        EXPECT_TRUE(x->of("edit.force_released").empty()) << x->all();
        EXPECT_TRUE(x->of("edit.force_release_pending").empty()) << x->all();
    }
    EXPECT_EQ(s_a1.of("edit.force_released", sid).size(), 1u) << s_a1.all();
    EXPECT_EQ(count("SELECT COUNT(*) FROM force_release_requests"), 0);
    EXPECT_EQ(sign(admin2, aid, "approved").status, 409) << "terminal";
    EXPECT_EQ(admin().get("/api/audit/verify").js().value("ok", false), true);
    acquire_ok(bob, "FRA-1", b1, "sketch", "Sketch001");
}

TEST_P(ForceRelease, ApprovalModeRejectionKeepsTheSessionAndHolderReleaseCancels) {
    boot(kApprovalMode);
    auto alice = make_user("alice", "editor");
    auto carol = make_user("carol", "viewer");
    auto admin2 = make_user("admin2", "admin");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FRA-2");
    auto& watcher = open("carol watching FRA-2", carol, "?watch=FRA-2");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    const std::string sid = str(acquire_ok(alice, "FRA-2", a1, "sketch", "Sketch001"), "id");
    const std::string other = str(acquire_ok(alice, "FRA-2", a1, "sketch", "Sketch002"), "id");

    // Rejected: the session stays held, and a new request may be made.
    auto r = force_release(admin_token, "FRA-2", sid, {{"reason", "first try"}});
    ASSERT_EQ(r.status, 202) << r.body;
    const std::string aid = str(r.js()["approval"], "id");
    auto rej = sign(admin2, aid, "rejected");
    ASSERT_EQ(rej.status, 200) << rej.body;
    EXPECT_EQ(str(rej.js(), "state"), "rejected") << rej.body;
    EXPECT_TRUE(session_listed("FRA-2", sid));
    EXPECT_TRUE(session_listed("FRA-2", other));
    EXPECT_EQ(audit("edit.force_released", sid).size(), 0u);
    settle({&s_a1, &watcher});
    EXPECT_TRUE(s_a1.of("edit.force_released").empty()) << s_a1.all();
    EXPECT_TRUE(watcher.of("edit.session_released").empty()) << watcher.all();

    auto r2 = force_release(admin_token, "FRA-2", sid, {{"reason", "second try"}});
    ASSERT_EQ(r2.status, 202) << "after a rejection a new request is possible: " << r2.body;
    const std::string aid2 = str(r2.js()["approval"], "id");
    EXPECT_NE(aid2, aid);

    // The holder releases first: the approval is cancelled, nothing else is touched.
    ASSERT_EQ(release(alice, "FRA-2", sid).status, 204);
    EXPECT_EQ(str(approval(aid2), "state"), "cancelled");
    EXPECT_EQ(str(approval(aid), "state"), "rejected");
    EXPECT_EQ(sign(admin2, aid2, "approved").status, 409) << "a cancelled approval takes no signature";
    EXPECT_TRUE(session_listed("FRA-2", other)) << "another session of the holder was touched";
    auto rel = watcher.wait_for("edit.session_released", sid);
    ASSERT_TRUE(rel) << watcher.all();
    EXPECT_EQ(str(rel->js(), "reason"), "released") << rel->raw;
    settle({&watcher});
    EXPECT_TRUE(watcher.of("edit.session_released", other).empty()) << watcher.all();
    EXPECT_EQ(audit("edit.force_released").size(), 0u);
    EXPECT_EQ(count("SELECT COUNT(*) FROM force_release_requests"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals WHERE state = 'pending'"), 0);
    auto comp = admin().get("/api/audit?action=approval.completed&resource_type=approval&resource_id=" + aid2);
    ASSERT_EQ(comp.status, 200) << comp.body;
    EXPECT_EQ(comp.js().size(), 1u) << "the cancellation is audited: " << comp.body;
}

TEST_P(ForceRelease, ApprovalModeDesignatedApproverIsTheOnlySigner) {
    boot(kApprovalMode);
    auto alice = make_user("alice", "editor");
    auto admin2 = make_user("admin2", "admin");
    auto admin3 = make_user("admin3", "admin");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FRA-3");
    auto& s_a1 = open("alice/a1", alice, "?workstation_id=" + a1);
    const std::string sid = str(acquire_ok(alice, "FRA-3", a1, "sketch", "Sketch001"), "id");

    auto bad = force_release(admin_token, "FRA-3", sid, {{"reason", "x"}, {"approvers", {"nobody-here"}}});
    EXPECT_EQ(bad.status, 400) << "unknown approver: " << bad.body;
    auto bad2 = force_release(admin_token, "FRA-3", sid, {{"reason", "x"}, {"approvers", {42}}});
    EXPECT_EQ(bad2.status, 400) << bad2.body;
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM force_release_requests"), 0);

    auto r = force_release(admin_token, "FRA-3", sid, {{"reason", "x"}, {"approvers", {"admin2"}}});
    ASSERT_EQ(r.status, 202) << r.body;
    const std::string aid = str(r.js()["approval"], "id");
    auto s3 = sign(admin3, aid, "approved");
    EXPECT_EQ(s3.status, 403) << "admin3 is not the designated approver: " << s3.body;
    EXPECT_TRUE(session_listed("FRA-3", sid));
    auto s2 = sign(admin2, aid, "approved");
    ASSERT_EQ(s2.status, 200) << s2.body;
    EXPECT_EQ(str(s2.js(), "state"), "approved");
    EXPECT_FALSE(session_listed("FRA-3", sid));
    auto e = s_a1.wait_for("edit.force_released", sid);
    ASSERT_TRUE(e) << s_a1.all();
    EXPECT_EQ(str(e->js(), "approval_id"), aid) << e->raw;
}

// A pending force-release approval decided at the moment the holder releases: one wins.
TEST_P(ForceRelease, ApprovalRacingTheHoldersReleaseHasExactlyOneWinner) {
    boot(kApprovalMode);
    auto alice = make_user("alice", "editor");
    auto carol = make_user("carol", "viewer");
    auto admin2 = make_user("admin2", "admin");
    auto a1 = register_ws(alice, "alice-1");
    make_item("FRA-4");
    auto& watcher = open("carol watching FRA-4", carol, "?watch=FRA-4");

    constexpr int kRounds = 12;
    std::vector<std::string> sids;
    int approved = 0, cancelled = 0;
    for (int i = 0; i < kRounds; ++i) {
        SCOPED_TRACE("round " + std::to_string(i));
        const std::string sid = str(acquire_ok(alice, "FRA-4", a1, "sketch", "Sketch" + std::to_string(i)), "id");
        sids.push_back(sid);
        auto fr = force_release(admin_token, "FRA-4", sid, {{"reason", "race"}});
        ASSERT_EQ(fr.status, 202) << fr.body;
        const std::string aid = str(fr.js()["approval"], "id");
        HttpClient cs = as(port(), admin2), ch = as(port(), alice);
        HttpResult sg, rel;
        std::atomic<int> ready{0};
        std::thread t1([&] {
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();
            sg = cs.post_json("/api/approvals/" + aid + "/sign", {{"status", "approved"}});
        });
        std::thread t2([&] {
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();
            rel = ch.del(sessions_path("FRA-4", sid));
        });
        t1.join();
        t2.join();
        const std::string state = str(approval(aid), "state");
        const bool by_approval = sg.status == 200 && rel.status == 404 && state == "approved";
        const bool by_holder = rel.status == 204 && sg.status == 409 && state == "cancelled";
        EXPECT_TRUE(by_approval || by_holder) << "sign " << sg.status << " " << sg.body << "; release " << rel.status
                                              << " " << rel.body << "; approval " << state;
        approved += by_approval;
        cancelled += by_holder;
    }
    for (const auto& sid : sids) ASSERT_TRUE(watcher.wait_for("edit.session_released", sid)) << watcher.all();
    settle({&watcher});
    for (const auto& sid : sids) {
        EXPECT_EQ(watcher.of("edit.session_released", sid).size(), 1u) << watcher.all();
        EXPECT_EQ(events_of("edit.session_released", sid), 1) << sid;
    }
    EXPECT_EQ(session_rows(), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals WHERE state = 'pending'"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM force_release_requests"), 0);
    std::cout << "[ race ] approval won " << approved << ", the holder " << cancelled << "\n";
}

// Two instances on one PostgreSQL: requested on A, approved on B; the holder's stream on A is
// told, and the object is free through both.
TEST_P(ForceRelease, TwoInstancesApprovalSignedOnTheOtherInstanceReleases) {
    if (GetParam() != Db::postgres) GTEST_SKIP() << "several instances need PostgreSQL";
    boot(kApprovalMode);
    auto o = options(kApprovalMode);
    o.pg_url = server->pg_url();
    other = ServerProcess::start(o);
    const int pa = server->port(), pb = other->port();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto admin2 = make_user("admin2", "admin");
    auto a1 = register_ws(alice, "alice-1");
    auto b1 = register_ws(bob, "bob-1");
    make_item("FRM-1");
    auto& s_a1 = open("alice/a1 on A", alice, "?workstation_id=" + a1, pa);
    auto& wb = open("carol watching on B", carol, "?watch=FRM-1", pb);

    const std::string sid = str(acquire_ok(alice, "FRM-1", a1, "assembly", "Root"), "id");
    ASSERT_TRUE(s_a1.wait_for("edit.session_acquired", sid)) << s_a1.all();
    auto r = force_release(admin_token, "FRM-1", sid, {{"reason", "cross-instance"}}, pa);
    ASSERT_EQ(r.status, 202) << r.body;
    const std::string aid = str(r.js()["approval"], "id");
    ASSERT_TRUE(s_a1.wait_for("edit.force_release_pending", sid)) << s_a1.all();
    EXPECT_EQ(force_release(admin2, "FRM-1", sid, {{"reason", "dup"}}, pb).status, 409) << "pending, seen from B";

    auto s = sign(admin2, aid, "approved", pb);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(str(s.js(), "state"), "approved") << s.body;
    auto e = s_a1.wait_for("edit.force_released", sid, 5s);
    ASSERT_TRUE(e) << "the holder's stream on A was not told: " << s_a1.all();
    EXPECT_EQ(str(e->js(), "approval_id"), aid) << e->raw;
    auto rel = wb.wait_for("edit.session_released", sid);
    ASSERT_TRUE(rel) << wb.all();
    EXPECT_EQ(str(rel->js(), "reason"), "force_released") << rel->raw;
    EXPECT_EQ(session_rows(), 0);
    EXPECT_EQ(audit("edit.force_released", sid).size(), 1u);

    // bob acquires the object through A, releases, then through B.
    {
        auto ca = as(pa, bob);
        auto r1 = acquire(ca, "FRM-1", acquire_body(b1, "assembly", "Root"));
        ASSERT_EQ(r1.status, 200) << r1.body;
        EXPECT_EQ(ca.del(sessions_path("FRM-1", str(r1.js(), "id"))).status, 204);
    }
    {
        auto cb = as(pb, bob);
        auto r2 = acquire(cb, "FRM-1", acquire_body(b1, "assembly", "Root"));
        ASSERT_EQ(r2.status, 200) << r2.body;
    }
}

INSTANTIATE_TEST_SUITE_P(Db, Handoff, ::testing::Values(Db::sqlite, Db::postgres), param_name);
INSTANTIATE_TEST_SUITE_P(Db, ForceRelease, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
