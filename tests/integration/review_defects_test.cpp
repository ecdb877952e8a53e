// The defects an adversarial review found (issue 20), each against the real binary on SQLite
// and on PostgreSQL: a designation that bypasses a gate's role, NUL bytes and invalid UTF-8
// reaching the database, a password change that leaves browser sessions open, an archive that
// strands held work, a Last-Event-ID above the head, signatures on the wrong gate, force-release
// approvals nobody can sign (and their cancellation), a read-only file store, duplicate
// handoff requests, and the rough edges listed with them. Every bad request must get a 4xx
// envelope and change nothing.
#include "session_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace silo::itest;

namespace {

const Headers kApprovalMode{{"SILO_MODULES_SESSIONS_FORCE_RELEASE_REQUIRES_APPROVAL", "true"}};

// One request from another loopback address (127.0.0.2), so the server sees another client.
HttpResult request_from(const char* source, int port, const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket");
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        throw std::runtime_error("connect from " + std::string(source));
    }
    HttpResult out;
    if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
        std::string buffer;
        if (auto r = read_response(fd, buffer)) out = *r;
    }
    ::close(fd);
    return out;
}

std::string json_login(const std::string& user, const std::string& password) {
    auto body = json{{"username", user}, {"password", password}}.dump();
    return "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// The envelope of a 4xx answer: its code, and a message.
void expect_error(const HttpResult& r, int status, const std::string& code, const std::string& what = "") {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    EXPECT_EQ(str(r.js(), "error"), code) << what << ": " << r.body;
    EXPECT_FALSE(str(r.js(), "message").empty()) << what << ": " << r.body;
}

class Review : public SessionTest {
protected:
    static std::string sessions_path(const std::string& pn, const std::string& sid) {
        return "/api/items/" + pn + "/edit-sessions/" + sid;
    }
    HttpResult force_release(const std::string& token, const std::string& pn, const std::string& sid,
                             const json& body) {
        return as(port(), token).request("DELETE", sessions_path(pn, sid) + "/force-release", body.dump(),
                                         {{"Content-Type", "application/json"}});
    }
    HttpResult sign(const std::string& token, const std::string& id, const std::string& status) {
        return as(port(), token).post_json("/api/approvals/" + id + "/sign", {{"status", status}});
    }
    json audit_verify() {
        auto r = admin().get("/api/audit/verify");
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    long rows(const std::string& table) const { return count("SELECT COUNT(*) FROM " + table); }
};

// ---------------------------------------------------------------------------------------------
// 1. A designation never lowers a gate's role.

TEST_P(Review, ADesignationCannotLowerAGatesRole) {
    boot(kApprovalMode);
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    auto root2 = make_user("root2", "admin");
    auto bob = make_user("bob", "editor");
    auto b1 = register_ws(bob, "bob-1");
    make_item("DG-1");

    // An editor names a fellow editor for the admin gate of engineering-change: refused.
    auto ec = as(port(), eddie).post_json("/api/items/DG-1/approvals",
                                          {{"workflow", "engineering-change"},
                                           {"signers", {{{"username", "erin"}, {"role", "admin"}},
                                                        {{"username", "erin"}, {"role", "quality"}}}}});
    expect_error(ec, 400, "bad_request", "editor designated for the admin gate");
    EXPECT_NE(ec.body.find("erin"), std::string::npos) << ec.body;
    EXPECT_EQ(rows("approvals"), 0);

    // One person designated for two required gates can sign only one of them: refused.
    auto twice = as(port(), eddie).post_json("/api/items/DG-1/approvals",
                                             {{"workflow", "engineering-change"},
                                              {"signers", {{{"username", "root2"}, {"role", "admin"}},
                                                           {{"username", "root2"}, {"role", "quality"}}}}});
    expect_error(twice, 400, "bad_request", "one designee for two required gates");
    EXPECT_NE(twice.body.find("different signers"), std::string::npos) << twice.body;
    EXPECT_EQ(rows("approvals"), 0);

    // An admin's force-release names an editor as approver: refused, the session stays held.
    auto sid = str(acquire_ok(bob, "DG-1", b1, "sketch", "Sketch001"), "id");
    auto fr = force_release(admin_token, "DG-1", sid, {{"reason", "stuck"}, {"approvers", {"bob"}}});
    expect_error(fr, 400, "bad_request", "editor as force-release approver");
    EXPECT_EQ(rows("approvals"), 0);
    EXPECT_EQ(rows("force_release_requests"), 0);
    EXPECT_EQ(session_rows(), 1);

    // A designated admin demoted afterwards can no longer sign the admin gate.
    auto ok = force_release(admin_token, "DG-1", sid, {{"reason", "stuck"}, {"approvers", {"root2"}}});
    ASSERT_EQ(ok.status, 202) << ok.body;
    auto approval_id = str(ok.js()["approval"], "id");
    ASSERT_EQ(admin().request("PATCH", "/api/admin/users/root2", json{{"role", "editor"}}.dump(),
                              {{"Content-Type", "application/json"}})
                  .status,
              200);
    expect_error(sign(root2, approval_id, "approved"), 403, "forbidden", "demoted designee signs");
    EXPECT_EQ(count("SELECT COUNT(*) FROM approval_signatures"), 0);
    EXPECT_EQ(session_rows(), 1) << "the session must still be held";
    (void)erin;
}

// ---------------------------------------------------------------------------------------------
// 2. NUL bytes (and other control characters) never reach the database; 9. nor does invalid
// UTF-8 after percent-decoding.

TEST_P(Review, NulBytesAndControlCharactersAreRefusedEverywhere) {
    boot();
    auto bob = make_user("bob", "editor");
    auto b1 = register_ws(bob, "bob-1");
    make_item("NUL-1");
    const std::string nul("\0", 1);

    // Login as "admin\0x": 400 before any lookup; no throttle bucket, no audit row.
    auto login = HttpClient(port()).post_json("/login", {{"username", "admin" + nul + "x"}, {"password", kAdminPassword}});
    expect_error(login, 400, "bad_request", "NUL in username");
    EXPECT_NE(login.body.find("U+0000"), std::string::npos) << login.body;
    auto form = HttpClient(port()).request("POST", "/login", "username=admin%00x&password=whatever",
                                           {{"Content-Type", "application/x-www-form-urlencoded"}});
    expect_error(form, 400, "bad_request", "NUL in a form field");
    EXPECT_EQ(admin().get("/api/audit?action=auth.login_failed").header("x-total-count"), "0");

    auto c = as(port(), bob);
    // JSON strings, member names and nested values.
    expect_error(c.post_json("/api/items", {{"part_number", "NUL-2"}, {"description", "a" + nul + "b"}}), 400,
                 "bad_request", "NUL in description");
    expect_error(c.post_json("/api/items", {{"part_number", "NUL-2"}, {"description", "esc\x1b[31m"}}), 400,
                 "bad_request", "ESC in description");
    expect_error(c.post_json("/api/items", {{"part_number", "NUL-2"}, {"x" + nul, 1}}), 400, "bad_request",
                 "NUL in a member name");
    expect_error(c.post_json("/api/items/NUL-1/edit-sessions",
                             {{"workstation_id", b1}, {"context_level", "sketch"}, {"object_id", "Sketch001" + nul + "A"}}),
                 400, "bad_request", "NUL in object_id");
    expect_error(c.post_json("/api/items/NUL-1/edit-sessions", {{"workstation_id", b1},
                                                                {"context_level", "sketch"},
                                                                {"object_id", "Sketch001"},
                                                                {"dependency_cone", {"n1", "n" + nul}}}),
                 400, "bad_request", "NUL in a cone node");
    // Raw JSON text with an escaped NUL, and a C1 control.
    expect_error(c.request("POST", "/api/workstations", R"({"name":"w\u0000","fingerprint":"fp"})",
                           {{"Content-Type", "application/json"}}),
                 400, "bad_request", "\\u0000 in JSON text");
    expect_error(c.request("POST", "/api/workstations", R"({"name":"w\u0085","fingerprint":"fp"})",
                           {{"Content-Type", "application/json"}}),
                 400, "bad_request", "\\u0085 in JSON text");
    // Path, query and multipart text.
    expect_error(c.get("/api/items/NUL%00-1"), 400, "bad_request", "%00 in the path");
    expect_error(c.get("/api/items?q=a%00b"), 400, "bad_request", "%00 in the query");
    expect_error(c.request("POST", "/api/items/NUL-1/file",
                           multipart({{"comment", "c" + nul, ""}, {"file", "bytes", "f.FCStd"}}), multipart_headers()),
                 400, "bad_request", "NUL in a multipart field");

    // Tab, line feed and carriage return are text; so is everything printable.
    auto fine = c.post_json("/api/items", {{"part_number", "NUL-3"}, {"description", "two\nlines\tand\r\xC3\xA9"}});
    ASSERT_EQ(fine.status, 201) << fine.body;
    EXPECT_EQ(str(fine.js(), "description"), "two\nlines\tand\r\xC3\xA9");

    // Nothing of the refused requests was written, and the audit chain is intact.
    EXPECT_EQ(rows("items"), 2);
    EXPECT_EQ(session_rows(), 0);
    EXPECT_EQ(rows("workstations"), 1);
    auto v = audit_verify();
    EXPECT_EQ(v.value("ok", false), true) << v.dump();
    // The true admin password still logs in: the NUL attempt fed no throttle.
    EXPECT_NO_THROW(silo::itest::login(port(), "admin", kAdminPassword));
}

TEST_P(Review, InvalidUtf8AfterPercentDecodingIsABadRequest) {
    boot();
    auto bob = make_user("bob", "editor");
    make_item("U8-1");
    auto c = as(port(), bob);
    auto a = admin();
    const std::vector<std::pair<std::string, std::string>> reads = {
        {"GET", "/api/items/%FF"},
        {"GET", "/api/items?q=%FF"},
        {"GET", "/api/items/%C0%80"},
        {"GET", "/api/items/%FF/revisions"},
        {"GET", "/api/items/U8-1/file/%FF"},
        {"GET", "/api/items/%FF/edit-sessions"},
        {"GET", "/api/items/%FF/checkpoints"},
        {"GET", "/api/items/U8-1/checkpoints?user=%FF"},
        {"GET", "/api/items/%FF/approvals"},
        {"GET", "/api/approvals?state=%ED%A0%80"},
        {"GET", "/api/workflows/%FF"},
        {"GET", "/api/handoff-requests?status=%FF"},
        {"GET", "/api/events?watch=%FF"},
        {"DELETE", "/api/items/%FF"},
        {"DELETE", "/api/workstations/%FF"},
        {"PUT", "/api/items/%FF"},
    };
    for (const auto& [method, target] : reads)
        expect_error(c.request(method, target, method == "PUT" ? "{}" : "", {{"Content-Type", "application/json"}}), 400,
                     "bad_request", method + " " + target);
    expect_error(a.get("/api/audit?actor=%FF"), 400, "bad_request", "audit actor");
    expect_error(a.get("/api/edit-sessions?user=%F4%90%80%80"), 400, "bad_request", "sessions user");
    expect_error(a.request("PATCH", "/api/admin/users/%FF", "{}", {{"Content-Type", "application/json"}}), 400,
                 "bad_request", "PATCH user");
    auto form = HttpClient(port()).request("POST", "/login", "username=%FF&password=whatever-long",
                                           {{"Content-Type", "application/x-www-form-urlencoded"}});
    expect_error(form, 400, "bad_request", "form login");
    EXPECT_NE(form.body.find("form field"), std::string::npos) << form.body;
    EXPECT_EQ(audit_verify().value("ok", false), true);
}

// ---------------------------------------------------------------------------------------------
// 4. A password change ends the user's other browser sessions.

TEST_P(Review, APasswordChangeEndsTheOtherBrowserSessions) {
    boot();
    make_user("alice", "editor");
    auto alice_token = token_for(port(), "alice", "alice-password-1");
    auto phone = silo::itest::login(port(), "alice", "alice-password-1");
    auto laptop = silo::itest::login(port(), "alice", "alice-password-1");
    auto me = [&](const Login& l) {
        return HttpClient(port()).request("GET", "/api/auth/me", "", {{"Cookie", l.cookie}}).status;
    };
    ASSERT_EQ(me(phone), 200);
    ASSERT_EQ(me(laptop), 200);

    // An admin resets alice's password: every browser session of hers ends at once.
    auto r = admin().request("PATCH", "/api/admin/users/alice", json{{"password", "alice-password-2"}}.dump(),
                             {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(me(phone), 401);
    EXPECT_EQ(me(laptop), 401);
    // Her API tokens are separate credentials and stay (docs/auth.md).
    EXPECT_EQ(as(port(), alice_token).get("/api/auth/me").status, 200);

    // An admin changing their own password from the browser stays logged in there only.
    auto here = silo::itest::login(port(), "admin", kAdminPassword);
    auto there = silo::itest::login(port(), "admin", kAdminPassword);
    auto own = HttpClient(port()).request("PATCH", "/api/admin/users/admin",
                                          json{{"password", "admin-New-Passw0rd"}}.dump(),
                                          {{"Content-Type", "application/json"}, {"Cookie", here.cookie},
                                           {"X-CSRF-Token", here.csrf}});
    ASSERT_EQ(own.status, 200) << own.body;
    EXPECT_EQ(me(here), 200);
    EXPECT_EQ(me(there), 401);
}

// ---------------------------------------------------------------------------------------------
// 5. An item with held sessions is not archived.

TEST_P(Review, ArchivingAHeldItemIsRefused) {
    boot();
    auto bob = make_user("bob", "editor");
    auto eve = make_user("eve", "editor");
    auto b1 = register_ws(bob, "bob-1");
    make_item("AR-1");
    auto sid = str(acquire_ok(bob, "AR-1", b1, "sketch", "Sketch001"), "id");
    ASSERT_EQ(put_work(bob, "AR-1", sid, "work in progress").status, 200);

    auto r = as(port(), eve).del("/api/items/AR-1");
    expect_error(r, 409, "conflict", "archive while held");
    ASSERT_TRUE(r.js()["sessions"].is_array()) << r.body;
    ASSERT_EQ(r.js()["sessions"].size(), 1u) << r.body;
    EXPECT_EQ(str(r.js()["sessions"][0], "id"), sid);
    EXPECT_NE(r.body.find("bob"), std::string::npos) << r.body;
    // Nothing changed: the item is live, the holder can still push a checkpoint and be
    // force-released.
    EXPECT_EQ(admin().get("/api/items/AR-1").status, 200);
    EXPECT_EQ(audit("item.deleted").size(), 0u);
    auto cp = push_checkpoint(bob, "AR-1", "checkpoint bytes", "manual", "0", sid);
    ASSERT_EQ(cp.status, 201) << cp.body;
    // Once the session is gone the item archives.
    EXPECT_EQ(as(port(), eve).del("/api/items/AR-1").status, 204);
    EXPECT_EQ(admin().get("/api/items/AR-1").status, 404);

    // Acquire and archive racing: never an archived item with a session on it.
    for (int round = 0; round < 8; ++round) {
        auto pn = "AR-R" + std::to_string(round);
        make_item(pn);
        std::atomic<int> acquired{0}, archived{0};
        const json body = acquire_body(b1, "sketch", "Sketch001");
        std::thread t1([&] {
            auto c = as(port(), bob);
            if (acquire(c, pn, body).status == 200) ++acquired;
        });
        std::thread t2([&] {
            if (as(port(), eve).del("/api/items/" + pn).status == 204) ++archived;
        });
        t1.join();
        t2.join();
        EXPECT_EQ(acquired + archived, 1) << "round " << round << ": exactly one of the two may win";
        auto held = count("SELECT COUNT(*) FROM edit_sessions s JOIN items i ON i.id = s.item_id WHERE "
                          "i.archived_at IS NOT NULL");
        ASSERT_EQ(held, 0) << "round " << round;
    }
}

// ---------------------------------------------------------------------------------------------
// 6. A Last-Event-ID above the newest event resets the stream.

TEST_P(Review, ALastEventIdAboveTheHeadGetsStreamResetThenEverything) {
    boot();
    auto viewer = make_user("vic", "viewer");
    make_item("LE-1");
    auto head = count("SELECT last_id FROM event_head WHERE id = 1");
    ASSERT_GT(head, 0);
    auto& s = open("vic ahead", viewer, "?last_event_id=" + std::to_string(head + 1000));
    auto reset = s.wait_for("stream.reset");
    ASSERT_TRUE(reset) << s.all();
    EXPECT_EQ(str(reset->js(), "reason"), "unknown_event_id") << reset->raw;
    EXPECT_FALSE(reset->has_id_line) << reset->raw;
    make_item("LE-2");  // an id far below the client's
    auto created = s.wait_for_item("item.created", "LE-2");
    ASSERT_TRUE(created) << s.all();
    EXPECT_EQ(str(created->js(), "part_number"), "LE-2");
    EXPECT_EQ(created->id.value_or(0), head + 1);
}

// ---------------------------------------------------------------------------------------------
// 7. A designated signer's signature lands on their gate; one that settles nothing is refused.

TEST_P(Review, SignaturesLandOnTheDesignatedGateAndNeverOnASettledOne) {
    boot();
    auto eddie = make_user("eddie", "editor");
    auto quinn = make_user("quinn", "editor");
    auto erin = make_user("erin", "editor");
    auto ed2 = make_user("ed2", "editor");
    make_item("SG-1");
    auto a = as(port(), eddie).post_json("/api/items/SG-1/approvals",
                                         {{"workflow", "engineering-change"},
                                          {"signers", {{{"username", "quinn"}, {"role", "quality"}}}}});
    ASSERT_EQ(a.status, 201) << a.body;
    auto id = str(a.js(), "id");
    auto q = sign(quinn, id, "approved");
    ASSERT_EQ(q.status, 200) << q.body;
    EXPECT_EQ(q.js()["signatures"][0]["role"], "quality") << "quinn was named for quality: " << q.body;
    auto e = sign(erin, id, "approved");
    ASSERT_EQ(e.status, 200) << e.body;
    EXPECT_EQ(e.js()["signatures"][1]["role"], "editor") << e.body;
    // ed2 may only sign the editor gate, which is settled: refused, not recorded.
    expect_error(sign(ed2, id, "approved"), 409, "conflict", "signature on a settled gate");
    expect_error(sign(ed2, id, "rejected"), 409, "conflict", "rejection on a settled gate");
    auto now = admin().get("/api/approvals/" + id).js();
    EXPECT_EQ(now["signatures"].size(), 2u) << now.dump();
    EXPECT_EQ(now["state"], "pending");
    // The manager gate is still open for an admin, who completes it.
    auto done = sign(admin_token, id, "approved");
    ASSERT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(done.js()["state"], "approved");
}

// ---------------------------------------------------------------------------------------------
// 8. A force-release nobody could approve is refused; a pending one can be cancelled.

TEST_P(Review, AForceReleaseNobodyCouldApproveIsRefusedAndAPendingOneCanBeCancelled) {
    boot(kApprovalMode);
    auto bob = make_user("bob", "editor");
    auto vera = make_user("vera", "viewer");
    auto b1 = register_ws(bob, "bob-1");
    make_item("FC-1");
    auto& holder = open("bob/b1", bob, "?workstation_id=" + b1);
    auto sid = str(acquire_ok(bob, "FC-1", b1, "sketch", "Sketch001"), "id");

    // The requesting admin as approver (self-approval is off), a viewer, or nobody when the
    // requester is the only admin: all refused, nothing written.
    expect_error(force_release(admin_token, "FC-1", sid, {{"reason", "r"}, {"approvers", {"admin"}}}), 400,
                 "bad_request", "self as approver");
    expect_error(force_release(admin_token, "FC-1", sid, {{"reason", "r"}, {"approvers", {"vera"}}}), 400,
                 "bad_request", "viewer as approver");
    auto alone = force_release(admin_token, "FC-1", sid, {{"reason", "r"}});
    expect_error(alone, 400, "bad_request", "no other admin");
    EXPECT_NE(alone.body.find("nobody could sign"), std::string::npos) << alone.body;
    EXPECT_EQ(rows("approvals"), 0);
    EXPECT_EQ(rows("force_release_requests"), 0);

    // With a second admin it is accepted; then its admin cancels it.
    auto root2 = make_user("root2", "admin");
    auto fr = force_release(admin_token, "FC-1", sid, {{"reason", "stuck"}});
    ASSERT_EQ(fr.status, 202) << fr.body;
    auto approval_id = str(fr.js()["approval"], "id");
    ASSERT_TRUE(holder.wait_for("edit.force_release_pending", sid)) << holder.all();
    // Not by an editor who did not ask for it; not with a bad id.
    expect_error(as(port(), bob).post_json("/api/approvals/" + approval_id + "/cancel", json::object()), 403,
                 "forbidden", "the holder cancels");
    expect_error(admin().post_json("/api/approvals/not-a-uuid/cancel", json::object()), 404, "not_found", "bad id");
    auto cancel = admin().post_json("/api/approvals/" + approval_id + "/cancel", {{"reason", "sorted it out by phone"}});
    ASSERT_EQ(cancel.status, 200) << cancel.body;
    EXPECT_EQ(cancel.js()["state"], "cancelled");
    auto told = holder.wait_for("edit.force_release_cancelled", sid);
    ASSERT_TRUE(told) << holder.all();
    EXPECT_EQ(str(told->js(), "approval_id"), approval_id);
    EXPECT_EQ(str(told->js(), "cancelled_by"), "admin");
    EXPECT_EQ(audit("edit.force_release_cancelled", sid).size(), 1u);
    auto completed = admin().get("/api/audit?action=approval.completed&resource_id=" + approval_id).js();
    ASSERT_EQ(completed.size(), 1u);
    EXPECT_EQ(completed[0]["details"]["state"], "cancelled");
    EXPECT_EQ(completed[0]["details"]["reason"], "sorted it out by phone");
    // A cancelled approval takes no signature and is not cancelled twice.
    expect_error(sign(root2, approval_id, "approved"), 409, "conflict", "sign after cancel");
    expect_error(admin().post_json("/api/approvals/" + approval_id + "/cancel", json::object()), 409, "conflict",
                 "cancel twice");
    EXPECT_EQ(session_rows(), 1) << "the session stays held";
    // The session is no longer blocked: a new request is accepted, and decided.
    auto again = force_release(admin_token, "FC-1", sid, {{"reason", "stuck again"}});
    ASSERT_EQ(again.status, 202) << again.body;
    ASSERT_EQ(sign(root2, str(again.js()["approval"], "id"), "approved").status, 200);
    EXPECT_EQ(session_rows(), 0);
    (void)vera;
}

// ---------------------------------------------------------------------------------------------
// 11. One pending handoff request per requester and session.

TEST_P(Review, ASecondPendingHandoffRequestAnswersTheFirst) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "editor");
    auto a1 = register_ws(alice, "alice-1");
    make_item("HD-1");
    auto& s = open("alice/a1", alice, "?workstation_id=" + a1);
    auto sid = str(acquire_ok(alice, "HD-1", a1, "sketch", "Sketch001"), "id");
    auto path = sessions_path("HD-1", sid) + "/request-handoff";
    auto first = as(port(), bob).post_json(path, {{"message", "please"}});
    ASSERT_EQ(first.status, 202) << first.body;
    auto again = as(port(), bob).post_json(path, {{"message", "please please"}});
    expect_error(again, 409, "conflict", "second request");
    EXPECT_EQ(str(again.js()["handoff"], "id"), str(first.js(), "handoff_id")) << again.body;
    EXPECT_EQ(str(again.js()["handoff"], "message"), "please") << again.body;
    // Concurrent duplicates from carol: exactly one is filed.
    std::atomic<int> filed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i)
        threads.emplace_back([&] {
            if (as(port(), carol).post_json(path, {{"message", "me too"}}).status == 202) ++filed;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(filed.load(), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM handoff_requests WHERE status = 'pending'"), 2);
    EXPECT_EQ(audit("edit.handoff_requested", sid).size(), 2u);
    // The holder heard each requester once: everything up to a later event (the canary) is in.
    make_item("HD-CANARY");
    ASSERT_TRUE(s.wait_for_item("item.created", "HD-CANARY")) << s.all();
    EXPECT_EQ(s.of("edit.handoff_requested", sid).size(), 2u) << s.all();
    // Once declined, bob may ask again.
    ASSERT_EQ(as(port(), alice).post_json("/api/handoff-requests/" + str(first.js(), "handoff_id") + "/decline",
                                          json::object())
                  .status,
              200);
    EXPECT_EQ(as(port(), bob).post_json(path, {{"message", "now?"}}).status, 202);
}

// ---------------------------------------------------------------------------------------------
// Rough edges.

TEST_P(Review, RoughEdges) {
    boot();
    auto bob = make_user("bob", "editor");
    auto b1 = register_ws(bob, "bob-1");
    make_item("RE-1");
    auto c = as(port(), bob);

    // "." and ".." cannot be addressed by a URL: not part numbers, not usernames.
    for (const char* name : {".", ".."}) {
        expect_error(c.post_json("/api/items", {{"part_number", name}}), 400, "bad_request", name);
        expect_error(admin().post_json("/api/admin/users", {{"username", name}, {"password", "long-enough-1"},
                                                            {"role", "viewer"}}),
                     400, "bad_request", name);
    }
    EXPECT_EQ(c.post_json("/api/items", {{"part_number", "..."}}).status, 201) << "three dots are addressable";

    // Every list route pages, and refuses a bad limit alike.
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(c.post_json("/api/auth/tokens", {{"name", "t" + std::to_string(i)}}).status, 201);
    register_ws(bob, "bob-2");
    acquire_ok(bob, "RE-1", b1, "sketch", "S1");
    acquire_ok(bob, "RE-1", b1, "sketch", "S2");
    for (const std::string route : {"/api/auth/tokens", "/api/workstations", "/api/items/RE-1/edit-sessions",
                                    "/api/workflows", "/api/items", "/api/approvals", "/api/handoff-requests"}) {
        auto one = c.get(route + "?limit=1");
        ASSERT_EQ(one.status, 200) << route << ": " << one.body;
        EXPECT_LE(one.js().size(), 1u) << route;
        EXPECT_FALSE(one.header("x-total-count").empty()) << route;
        expect_error(c.get(route + "?limit=0"), 400, "bad_request", route + "?limit=0");
        expect_error(c.get(route + "?offset=-1"), 400, "bad_request", route + "?offset=-1");
    }
    EXPECT_EQ(c.get("/api/auth/tokens?limit=2").header("x-total-count"), "4");  // 3 + the fixture's
    EXPECT_EQ(c.get("/api/auth/tokens?limit=2&offset=3").js().size(), 1u);
    // A filter no record could match is a mistake, not an empty list.
    expect_error(c.get("/api/approvals?state=bogus"), 400, "bad_request", "unknown state");
    expect_error(c.get("/api/approvals?resource_type=Bad%20Type"), 400, "bad_request", "bad resource_type");
    EXPECT_EQ(c.get("/api/approvals?state=cancelled").status, 200);
    expect_error(admin().get("/api/edit-sessions?workstation_id=nope"), 400, "bad_request", "workstation filter");
    expect_error(admin().get("/api/edit-sessions?user=a%20b"), 400, "bad_request", "user filter");
    expect_error(c.get("/api/items/RE-1/checkpoints?user=a%20b"), 400, "bad_request", "checkpoint user filter");

    // Empty uploads are refused alike: revision, checkpoint, session work.
    expect_error(c.request("POST", "/api/items/RE-1/file", multipart({{"file", "", "f.FCStd"}}), multipart_headers()),
                 400, "bad_request", "empty revision");
    expect_error(push_checkpoint(bob, "RE-1", ""), 400, "bad_request", "empty checkpoint");
    auto sid = str(list_item(bob, "RE-1")[0], "id");
    expect_error(put_work(bob, "RE-1", sid, ""), 400, "bad_request", "empty work");
    EXPECT_EQ(count("SELECT revision FROM items WHERE part_number = 'RE-1'"), 0);
    EXPECT_EQ(rows("checkpoints"), 0);

    // A reason of invisible characters is no reason.
    for (const std::string blank : {"\xC2\xA0\xC2\xA0", "\xE2\x80\x8B", "\xE2\x80\x8B \xEF\xBB\xBF\t"})
        expect_error(force_release(admin_token, "RE-1", sid, {{"reason", blank}}), 400, "bad_request", "blank reason");
    expect_error(c.post_json("/api/items/RE-1/edit-sessions",
                             acquire_body(b1, "sketch", "\xE2\x80\x8B")),
                 400, "bad_request", "blank object_id");
    EXPECT_EQ(session_rows(), 2);

    // HEAD is GET without the body.
    auto get = c.get("/api/items/RE-1");
    auto head = c.request("HEAD", "/api/items/RE-1");
    ASSERT_EQ(head.status, 200) << head.body;
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size()));
    EXPECT_EQ(head.header("content-type"), "application/json");
    EXPECT_EQ(c.request("HEAD", "/health").status, 200);
    EXPECT_EQ(c.request("HEAD", "/api/items/NOPE").status, 404);
    EXPECT_EQ(HttpClient(port()).request("HEAD", "/api/items").status, 401);
    auto wrong = c.request("PATCH", "/api/items/RE-1");
    EXPECT_EQ(wrong.status, 405);
    EXPECT_NE(wrong.header("allow").find("HEAD"), std::string::npos) << wrong.header("allow");
    auto events_head = c.request("HEAD", "/api/events");
    EXPECT_EQ(events_head.status, 200);
    EXPECT_EQ(events_head.header("content-type"), "text/event-stream");
    EXPECT_TRUE(events_head.body.empty());

    // Wording: a password is counted in characters; a login of the wrong type names both forms.
    auto pw = admin().post_json("/api/admin/users", {{"username", "pat"}, {"password", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"},
                                                     {"role", "viewer"}});
    expect_error(pw, 400, "bad_request", "4 characters (8 bytes)");
    EXPECT_NE(pw.body.find("8 to 1024 characters"), std::string::npos) << pw.body;
    auto eight = admin().post_json("/api/admin/users", {{"username", "pat"},
                                                        {"password", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"},
                                                        {"role", "viewer"}});
    EXPECT_EQ(eight.status, 201) << "8 characters are enough: " << eight.body;
    auto bad_type = HttpClient(port()).request("POST", "/login", "username=a", {{"Content-Type", "text/plain"}});
    expect_error(bad_type, 415, "unsupported_media_type", "login as text/plain");
    EXPECT_NE(bad_type.body.find("x-www-form-urlencoded"), std::string::npos) << bad_type.body;
    auto missing = HttpClient(port()).request("POST", "/login", "username=a",
                                              {{"Content-Type", "application/x-www-form-urlencoded"}});
    expect_error(missing, 400, "bad_request", "form without password");
    EXPECT_NE(missing.body.find("form fields"), std::string::npos) << missing.body;
}

// The login throttle slows the address that fails, not the name: nobody can keep the admin
// out by failing on purpose.
TEST_P(Review, FailedLoginsFromOneAddressDoNotLockTheNameOutElsewhere) {
    boot();
    // Guess from 127.0.0.2 until it is throttled (bounded), then log in from 127.0.0.3 at once.
    HttpResult last;
    for (int i = 0; i < 30 && last.status != 429; ++i)
        last = request_from("127.0.0.2", port(), json_login("admin", "guess-" + std::to_string(i)));
    expect_error(last, 429, "too_many_requests", "the guessing address");
    auto elsewhere = request_from("127.0.0.3", port(), json_login("admin", kAdminPassword));
    EXPECT_EQ(elsewhere.status, 200) << elsewhere.body;
}

// A body nested deeper than any request needs is refused before anything walks it (a public
// route; 100,000 levels in 200 KB must not crash the server).
TEST_P(Review, DeeplyNestedJsonIsRefused) {
    boot();
    std::string deep = "{\"username\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    auto r = HttpClient(port()).request("POST", "/login", deep, {{"Content-Type", "application/json"}});
    expect_error(r, 400, "bad_request", "deep nesting");
    std::string ok_depth = "{\"a\":" + std::string(60, '[') + std::string(60, ']') + ",\"name\":\"w\",\"fingerprint\":\"f\"}";
    EXPECT_EQ(admin().request("POST", "/api/workstations", ok_depth, {{"Content-Type", "application/json"}}).status, 201);
    EXPECT_EQ(HttpClient(port()).get("/health").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Db, Review, ::testing::Values(Db::sqlite, Db::postgres), param_name);

// ---------------------------------------------------------------------------------------------
// Start-up: configuration errors stop silod before the database is touched.

TEST(ReviewStartup, ConfigurationErrorsStopBeforeTheDatabaseIsTouched) {
    auto dir = make_temp_dir("silod-early");
    // A port somebody else listens on.
    int busy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(busy, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string busy_port = std::to_string(ntohs(addr.sin_port));
    struct Case {
        std::map<std::string, std::string> env;
        std::string expect;
    } cases[] = {
        {{{"SILO_SERVER_PORT", busy_port}}, "cannot listen"},
        // An address of no interface here (TEST-NET-1): the bind fails at once, no DNS involved.
        {{{"SILO_SERVER_PORT", "0"}, {"SILO_SERVER_HOST", "192.0.2.1"}}, "cannot listen"},
        {{{"SILO_SERVER_PORT", "0"},
          {"SILO_MODULES_SESSIONS_FORCE_RELEASE_REQUIRES_APPROVAL", "true"},
          {"SILO_MODULES_SESSIONS_FORCE_RELEASE_WORKFLOW", "nope"}},
         "force_release_workflow"},
    };
    for (auto& tc : cases) {
        tc.env["SILO_ADMIN_PASSWORD"] = "early-Passw0rd";
        auto r = run_silod({}, tc.env, dir);
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_NE(r.output.find(tc.expect), std::string::npos) << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir + "/data/silo.db")) << "migrated before failing: " << r.output;
        EXPECT_FALSE(std::filesystem::exists(dir + "/data/files/initial-admin-password")) << r.output;
    }
    ::close(busy);
    std::filesystem::remove_all(dir);
}

TEST(ReviewStartup, AHostNameIsResolved) {
    ServerOptions o;
    o.env = {{"SILO_SERVER_HOST", "localhost"}};
    auto s = ServerProcess::start(o);
    EXPECT_EQ(s->client().get("/health").status, 200);
    EXPECT_EQ(s->stop(), 0) << s->log();
}

TEST(ReviewStartup, APostgresConnectionErrorIsOneLine) {
    auto dir = make_temp_dir("silod-pgdown");
    auto r = run_silod({}, {{"SILO_DATABASE_DRIVER", "postgres"}, {"SILO_DATABASE_URL", "postgresql://u@127.0.0.1:1/x"},
                            {"SILO_SERVER_PORT", "0"}},
                       dir);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    auto line = r.output.substr(r.output.rfind("silod: "));
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
    EXPECT_NE(line.find("cannot connect to PostgreSQL"), std::string::npos) << line;
    EXPECT_NE(line.find("Connection refused"), std::string::npos) << line;
    std::filesystem::remove_all(dir);
}

// 10. A storage root that cannot take files stops start-up, and fails /ready while it lasts.
// Needs a read-only filesystem: a small tmpfs this test mounts (root in CI); elsewhere it skips.
class ReviewStorage : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override { SILO_REQUIRE_DATABASE(GetParam()); }
};

TEST_P(ReviewStorage, AReadOnlyStorageRootFailsStartUpAndReady) {
    auto mnt = make_temp_dir("silod-rofs");
    if (::mount("silo-test", mnt.c_str(), "tmpfs", 0, "size=8m") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
    struct Unmount {
        std::string dir;
        ~Unmount() {
            ::umount2(dir.c_str(), MNT_DETACH);
            std::filesystem::remove_all(dir);
        }
    } unmount{mnt};
    std::filesystem::create_directories(mnt + "/files");
    auto remount = [&](unsigned long flags) {
        return ::mount("silo-test", mnt.c_str(), "tmpfs", MS_REMOUNT | flags, "size=8m") == 0;
    };
    ASSERT_TRUE(remount(MS_RDONLY)) << std::strerror(errno);

    auto dir = make_temp_dir("silod-rofs-run");
    std::map<std::string, std::string> env = {{"SILO_SERVER_PORT", "0"}, {"SILO_STORAGE_ROOT_DIR", mnt + "/files"},
                                              {"SILO_ADMIN_PASSWORD", "rofs-Passw0rd"}};
    if (GetParam() == Db::postgres) {
        env["SILO_DATABASE_DRIVER"] = "postgres";
        env["SILO_DATABASE_URL"] = create_pg_database();
    }
    auto r = run_silod({}, env, dir);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("storage.root_dir"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Read-only file system"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("migrated"), std::string::npos) << "the database was touched: " << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir + "/data/silo.db")) << r.output;

    // Writable at start, read-only later: /ready says so and uploads answer 503, not 500.
    ASSERT_TRUE(remount(0)) << std::strerror(errno);
    ServerOptions o;
    o.db = GetParam();
    o.env = {{"SILO_STORAGE_ROOT_DIR", mnt + "/files"}};
    auto s = ServerProcess::start(o);
    auto c = s->client();
    ASSERT_EQ(c.get("/ready").status, 200);
    ASSERT_EQ(c.post_json("/api/items", {{"part_number", "RO-1"}}).status, 201);
    ASSERT_TRUE(remount(MS_RDONLY)) << std::strerror(errno);
    // /ready probes at most every 2 s: poll (bounded) until it notices.
    auto ready_within = [&](int status) {
        HttpResult r;
        for (auto deadline = Clock::now() + 10s; Clock::now() < deadline; std::this_thread::sleep_for(200ms))
            if ((r = c.get("/ready")).status == status) break;
        return r;
    };
    auto ready = ready_within(503);
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_EQ(str(ready.js(), "storage"), "unwritable") << ready.body;
    EXPECT_EQ(str(ready.js(), "database"), "ok") << ready.body;
    auto up = c.request("POST", "/api/items/RO-1/file", multipart({{"file", "bytes", "f.FCStd"}}), multipart_headers());
    expect_error(up, 503, "unavailable", "upload on a read-only store");
    EXPECT_EQ(c.get("/api/items/RO-1").js()["revision"], 0);
    ASSERT_TRUE(remount(0)) << std::strerror(errno);
    EXPECT_EQ(ready_within(200).status, 200);
    EXPECT_EQ(c.request("POST", "/api/items/RO-1/file", multipart({{"file", "bytes", "f.FCStd"}}), multipart_headers()).status,
              201);
    EXPECT_EQ(s->stop(), 0) << s->log();
    std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Db, ReviewStorage, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
