// Workflows and approvals (issue 6, API.md §8) against the real binary, on SQLite and
// PostgreSQL: the create -> sign -> complete path on both sign routes, eligibility, the inbox,
// drafts, bad input that writes nothing, audit rows and events, concurrent signers of the last
// required gate (also across two server instances on PostgreSQL), and start-up with a bad
// workflow file.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <thread>

#include "harness.hpp"

using namespace silo::itest;

namespace {

constexpr const char* kAdminPassword = "admin-Secret-Passw0rd";

std::string param_name(const ::testing::TestParamInfo<Db>& info) { return db_name(info.param); }

class Approvals : public ::testing::TestWithParam<Db> {
  protected:
    void SetUp() override {
        SILO_REQUIRE_DATABASE(GetParam());
        server = ServerProcess::start(options());
        admin = token_for(server->port(), "admin", kAdminPassword);
    }
    void TearDown() override {
        if (second) {
            EXPECT_EQ(second->stop(), 0) << second->log();
        }
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }
    ServerOptions options() const {
        ServerOptions o;
        o.db = GetParam();
        o.auth_enabled = true;
        o.env = {{"SILO_ADMIN_USERNAME", "admin"}, {"SILO_ADMIN_PASSWORD", kAdminPassword}};
        return o;
    }
    int port() const { return server->port(); }
    HttpClient client(const std::string& token) const { return as(port(), token); }

    // Creates a user through the admin API and returns an API token of theirs.
    std::string make_user(const std::string& name, const std::string& role) {
        auto r = client(admin).post_json(
            "/api/admin/users",
            {{"username", name}, {"password", name + "-password-1"}, {"role", role}});
        EXPECT_EQ(r.status, 201) << r.body;
        return token_for(port(), name, name + "-password-1");
    }
    void make_item(const std::string& pn) {
        auto r = client(admin).post_json("/api/items", {{"part_number", pn}});
        ASSERT_EQ(r.status, 201) << r.body;
    }
    // POST /api/items/{pn}/approvals as `token`; the answer.
    HttpResult create(const std::string& token, const std::string& pn, const json& body) {
        return client(token).post_json("/api/items/" + pn + "/approvals", body);
    }
    json create_ok(const std::string& token, const std::string& pn, const json& body) {
        auto r = create(token, pn, body);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.js();
    }
    HttpResult sign(const std::string& token, const std::string& id, const std::string& status,
                    const std::string& comment = "") {
        return client(token).post_json("/api/approvals/" + id + "/sign",
                                       {{"status", status}, {"comment", comment}});
    }
    json get(const std::string& id) {
        auto r = client(admin).get("/api/approvals/" + id);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.js();
    }
    long count(const std::string& sql) const {
        auto rows = server->sql(sql);
        return rows.empty() ? -1 : std::stol(rows.front());
    }
    long audit_rows(const std::string& action, const std::string& id) const {
        return count("SELECT COUNT(*) FROM audit_log WHERE action = '" + action +
                     "' AND resource_type = 'approval' AND resource_id = '" + id + "'");
    }
    long event_rows(const std::string& type, const std::string& id) const {
        return count("SELECT COUNT(*) FROM events WHERE type = '" + type +
                     "' AND data LIKE '%\"approval_id\":\"" + id + "\"%'");
    }

    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<ServerProcess> second;
    std::string admin;
};

TEST_P(Approvals, WorkflowsAreListed) {
    auto viewer = make_user("vera", "viewer");
    auto list = client(viewer).get("/api/workflows");
    ASSERT_EQ(list.status, 200) << list.body;
    ASSERT_TRUE(list.js().is_array());
    std::vector<std::string> names;
    for (const auto& w : list.js()) names.push_back(w["name"]);
    EXPECT_EQ(names,
              (std::vector<std::string>{"engineering-change", "quick-review", "session-override"}));
    EXPECT_EQ(list.header("x-total-count"), "3");

    auto one = client(viewer).get("/api/workflows/session-override");
    ASSERT_EQ(one.status, 200) << one.body;
    auto wf = one.js();
    EXPECT_EQ(wf["name"], "session-override");
    EXPECT_EQ(wf["version"], 1);
    EXPECT_EQ(wf["description"], "Approval required before force-releasing an edit session");
    EXPECT_EQ(wf["states"], json::parse(R"(["draft","pending","approved","rejected"])"));
    EXPECT_EQ(wf["gates"],
              json::parse(R"([{"role":"admin","label":"Admin Authorization","required":true}])"));
    EXPECT_EQ(wf["rules"],
              json::parse(R"({"any_reject":"rejected","all_required_approve":"approved"})"));
    EXPECT_FALSE(wf.contains("workflow")) << "no wrapper";

    auto ec = client(viewer).get("/api/workflows/engineering-change").js();
    int required = 0, optional = 0;
    for (const auto& g : ec["gates"]) (g["required"] == true ? required : optional)++;
    EXPECT_GE(required, 2);
    EXPECT_GE(optional, 1);

    auto missing = client(viewer).get("/api/workflows/nope");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.js()["error"], "not_found");
}

TEST_P(Approvals, QuickReviewOnBothSignRoutes) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    make_item("QR-1");
    make_item("QR-2");

    auto a = create_ok(eddie, "qr-1", {{"workflow", "quick-review"}, {"eco_number", "ECO-42"}});
    EXPECT_EQ(a["state"], "pending");
    EXPECT_EQ(a["workflow"], "quick-review");
    EXPECT_EQ(a["part_number"], "QR-1");
    EXPECT_EQ(a["eco_number"], "ECO-42");
    EXPECT_EQ(a["resource_type"], "item");
    EXPECT_EQ(a["resource_id"], a["item_id"]);
    EXPECT_EQ(a["created_by"], "eddie");
    EXPECT_EQ(a["updated_by"], "eddie");
    EXPECT_TRUE(a["created_at"].is_string());
    EXPECT_TRUE(a["updated_at"].is_string());
    EXPECT_EQ(a["signatures"], json::array());
    const std::string id = a["id"];

    // The generic sign route.
    auto s = sign(erin, id, "approved", "ship it");
    ASSERT_EQ(s.status, 200) << s.body;
    auto signed_ = s.js();
    EXPECT_EQ(signed_["state"], "approved");
    EXPECT_EQ(signed_["updated_by"], "erin");
    ASSERT_EQ(signed_["signatures"].size(), 1u);
    auto sig = signed_["signatures"][0];
    EXPECT_EQ(sig["username"], "erin");
    EXPECT_EQ(sig["role"], "editor");
    EXPECT_EQ(sig["status"], "approved");
    EXPECT_EQ(sig["comment"], "ship it");
    EXPECT_TRUE(sig["signed_at"].is_string());
    EXPECT_EQ(get(id), signed_);

    // The item route: a rejection; the item must be the approval's own.
    auto b = create_ok(eddie, "QR-1", {{"workflow", "quick-review"}});
    const std::string bid = b["id"];
    auto wrong_item = client(erin).post_json("/api/items/QR-2/approvals/" + bid + "/sign",
                                             {{"status", "approved"}});
    EXPECT_EQ(wrong_item.status, 404) << wrong_item.body;
    EXPECT_EQ(
        client(erin)
            .post_json("/api/items/NOPE-9/approvals/" + bid + "/sign", {{"status", "approved"}})
            .status,
        404);
    auto r = client(erin).post_json("/api/items/qr-1/approvals/" + bid + "/sign",
                                    {{"status", "rejected"}, {"comment", "tolerances"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.js()["state"], "rejected");
    EXPECT_EQ(r.js()["signatures"][0]["status"], "rejected");

    // Lists: per item newest first, with signatures and X-Total-Count; paged.
    auto list = client(eddie).get("/api/items/QR-1/approvals");
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_EQ(list.header("x-total-count"), "2");
    ASSERT_EQ(list.js().size(), 2u);
    EXPECT_EQ(list.js()[0]["id"], bid);
    EXPECT_EQ(list.js()[1]["id"], id);
    EXPECT_EQ(list.js()[1]["signatures"].size(), 1u);
    auto paged = client(eddie).get("/api/items/QR-1/approvals?limit=1&offset=1");
    ASSERT_EQ(paged.js().size(), 1u);
    EXPECT_EQ(paged.js()[0]["id"], id);
    EXPECT_EQ(paged.header("x-total-count"), "2");
    EXPECT_EQ(client(eddie).get("/api/items/QR-2/approvals").js(), json::array());
    EXPECT_EQ(client(eddie).get("/api/items/NOPE-9/approvals").status, 404);

    auto all = client(eddie).get("/api/approvals?state=rejected");
    ASSERT_EQ(all.status, 200);
    ASSERT_EQ(all.js().size(), 1u);
    EXPECT_EQ(all.js()[0]["id"], bid);
    EXPECT_EQ(client(eddie).get("/api/approvals?resource_type=item").header("x-total-count"), "2");
    EXPECT_EQ(client(eddie).get("/api/approvals?resource_type=edit_session").js(), json::array());

    // Audit rows and events: created, signed, completed, once each.
    for (const auto& x : {id, bid}) {
        EXPECT_EQ(audit_rows("approval.created", x), 1);
        EXPECT_EQ(audit_rows("approval.signed", x), 1);
        EXPECT_EQ(audit_rows("approval.completed", x), 1);
        EXPECT_EQ(event_rows("approval.created", x), 1);
        EXPECT_EQ(event_rows("approval.signed", x), 1);
        EXPECT_EQ(event_rows("approval.completed", x), 1);
    }
    auto ev = server->sql(
        "SELECT data FROM events WHERE type = 'approval.completed' AND data LIKE '%" + id + "%'");
    ASSERT_EQ(ev.size(), 1u);
    auto payload = json::parse(ev[0]);
    EXPECT_EQ(payload["approval_id"], id);
    EXPECT_EQ(payload["workflow"], "quick-review");
    EXPECT_EQ(payload["resource_type"], "item");
    EXPECT_EQ(payload["resource_id"], a["item_id"]);
    EXPECT_EQ(payload["state"], "approved");
    EXPECT_EQ(payload["item_id"], a["item_id"]);
    EXPECT_EQ(payload["part_number"], "QR-1");
    auto signed_ev = json::parse(
        server
            ->sql("SELECT data FROM events WHERE type = 'approval.signed' AND data LIKE '%" + id +
                  "%'")
            .at(0));
    EXPECT_EQ(signed_ev["username"], "erin");
    EXPECT_EQ(signed_ev["status"], "approved");
    auto audit = client(admin).get("/api/audit?resource_type=approval&resource_id=" + id);
    ASSERT_EQ(audit.status, 200);
    EXPECT_EQ(audit.js().size(), 3u);
    EXPECT_EQ(audit.js()[0]["action"], "approval.completed");
    EXPECT_EQ(audit.js()[0]["actor"], "erin");
    EXPECT_EQ(client(admin).get("/api/audit/verify").js()["ok"], true);
}

TEST_P(Approvals, EngineeringChangeWithDesignatedSigners) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    auto quinn = make_user("quinn", "editor");
    auto mona = make_user("mona", "editor");
    auto vera = make_user("vera", "viewer");
    auto adam = make_user("adam", "admin");
    make_item("ECO-1");

    auto a = create_ok(eddie, "ECO-1",
                       {{"workflow", "engineering-change"},
                        {"signers",
                         {{{"username", "quinn"}, {"role", "quality"}},
                          {{"username", "Mona"}, {"role", "manufacturing"}}}}});
    const std::string id = a["id"];
    EXPECT_EQ(a["signers"], json::parse(R"([{"username":"quinn","role":"quality"},
                                             {"username":"mona","role":"manufacturing"}])"));

    // A viewer is refused by the route; a user eligible for no gate by the service.
    EXPECT_EQ(sign(vera, id, "approved").status, 403);
    EXPECT_EQ(sign(eddie, id, "approved").status, 403)
        << "the creator (allow_self_approval: false)";

    auto s1 = sign(erin, id, "approved");  // the editor gate
    ASSERT_EQ(s1.status, 200) << s1.body;
    EXPECT_EQ(s1.js()["state"], "pending");
    EXPECT_EQ(s1.js()["signatures"][0]["role"], "editor");
    EXPECT_EQ(sign(erin, id, "approved").status, 409) << "already signed";

    auto s2 = sign(quinn, id, "approved");  // designated: quality first (editor is approved)
    ASSERT_EQ(s2.status, 200) << s2.body;
    EXPECT_EQ(s2.js()["state"], "pending");
    EXPECT_EQ(s2.js()["signatures"][1]["role"], "quality");

    // mona, designated for the optional gate: her approval does not decide anything.
    auto s3 = sign(mona, id, "approved", "fine by manufacturing");
    ASSERT_EQ(s3.status, 200) << s3.body;
    EXPECT_EQ(s3.js()["state"], "pending");
    EXPECT_EQ(s3.js()["signatures"][2]["role"], "manufacturing");
    EXPECT_EQ(s3.js()["signatures"][2]["comment"], "fine by manufacturing");

    auto s4 = sign(adam, id, "approved");  // the admin gate: the last required one
    ASSERT_EQ(s4.status, 200) << s4.body;
    EXPECT_EQ(s4.js()["state"], "approved");
    EXPECT_EQ(s4.js()["signatures"].size(), 4u);
    EXPECT_EQ(sign(admin, id, "approved").status, 409) << "terminal";
    EXPECT_EQ(audit_rows("approval.signed", id), 4);
    EXPECT_EQ(audit_rows("approval.completed", id), 1);

    // Designated signers of an auth-role gate: only they may sign it.
    auto b = create_ok(eddie, "ECO-1",
                       {{"workflow", "engineering-change"},
                        {"signers",
                         {{{"username", "quinn"}, {"role", "quality"}},
                          {{"username", "erin"}, {"role", "editor"}}}}});
    const std::string bid = b["id"];
    auto frank = make_user("frank", "editor");
    auto nope = sign(frank, bid, "approved");
    EXPECT_EQ(nope.status, 403) << nope.body;
    EXPECT_EQ(nope.js()["error"], "forbidden");
    EXPECT_EQ(sign(mona, bid, "approved").status, 403) << "designated for no gate of this approval";

    // A rejection on any gate decides the approval.
    auto r = sign(quinn, bid, "rejected", "material cert missing");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.js()["state"], "rejected");
    EXPECT_EQ(sign(erin, bid, "approved").status, 409);
}

TEST_P(Approvals, SessionOverrideNeedsAnotherAdmin) {
    auto erin = make_user("erin", "editor");
    auto adam = make_user("adam", "admin");
    make_item("SO-1");
    auto a = create_ok(admin, "SO-1", {{"workflow", "session-override"}});
    const std::string id = a["id"];
    EXPECT_EQ(sign(admin, id, "approved").status, 403) << "self-approval";
    EXPECT_EQ(sign(erin, id, "approved").status, 403) << "the gate needs an admin";
    auto s = client(adam).post_json("/api/items/SO-1/approvals/" + id + "/sign",
                                    {{"status", "approved"}});
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.js()["state"], "approved");
    EXPECT_EQ(s.js()["signatures"][0]["role"], "admin");
}

TEST_P(Approvals, TheInbox) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    auto quinn = make_user("quinn", "editor");
    auto vera = make_user("vera", "viewer");
    auto adam = make_user("adam", "admin");
    make_item("IN-1");
    auto q1 = create_ok(eddie, "IN-1", {{"workflow", "quick-review"}});
    auto q2 = create_ok(erin, "IN-1", {{"workflow", "quick-review"}});
    auto so = create_ok(eddie, "IN-1", {{"workflow", "session-override"}});
    auto ec = create_ok(eddie, "IN-1",
                        {{"workflow", "engineering-change"},
                         {"signers", {{{"username", "quinn"}, {"role", "quality"}}}}});
    auto draft = create_ok(eddie, "IN-1", {{"workflow", "quick-review"}, {"draft", true}});

    auto inbox = [&](const std::string& token,
                     const std::string& query = "?signer=me&state=pending") {
        auto r = client(token).get("/api/approvals" + query);
        EXPECT_EQ(r.status, 200) << r.body;
        std::vector<std::string> ids;
        for (const auto& a : r.js()) ids.push_back(a["id"]);
        EXPECT_EQ(r.header("x-total-count"), std::to_string(ids.size()));
        return ids;
    };
    using V = std::vector<std::string>;
    // Newest first; never the caller's own, never drafts, never what they cannot sign.
    EXPECT_EQ(inbox(eddie), (V{q2["id"]}));
    EXPECT_EQ(inbox(erin), (V{ec["id"], q1["id"]}));
    EXPECT_EQ(inbox(quinn), (V{ec["id"], q2["id"], q1["id"]}));
    EXPECT_EQ(inbox(adam), (V{ec["id"], so["id"], q2["id"], q1["id"]}));
    EXPECT_EQ(inbox(vera), V{});
    EXPECT_EQ(inbox(adam, "?signer=me"), inbox(adam));
    EXPECT_EQ(inbox(adam, "?signer=me&state=approved"), V{});
    EXPECT_EQ(inbox(adam, "?signer=me&resource_type=edit_session"), V{});
    auto page = client(adam).get("/api/approvals?signer=me&limit=2&offset=1");
    EXPECT_EQ(page.header("x-total-count"), "4");
    ASSERT_EQ(page.js().size(), 2u);
    EXPECT_EQ(page.js()[0]["id"], so["id"]);

    // Signing takes an approval out of the signer's inbox (and out of everyone's once done).
    ASSERT_EQ(sign(adam, q1["id"], "approved").status, 200);
    EXPECT_EQ(inbox(adam), (V{ec["id"], so["id"], q2["id"]}));
    EXPECT_EQ(inbox(quinn), (V{ec["id"], q2["id"]}));
    ASSERT_EQ(sign(adam, ec["id"], "approved").status, 200);  // editor gate (first open)
    EXPECT_EQ(inbox(adam), (V{so["id"], q2["id"]}));
    EXPECT_EQ(inbox(quinn), (V{ec["id"], q2["id"]})) << "the designated quality gate is still open";

    EXPECT_EQ(client(adam).get("/api/approvals?signer=bob").status, 400);
    EXPECT_EQ(client(adam).get("/api/approvals?limit=0").status, 400);
    (void)draft;
}

TEST_P(Approvals, DraftsAreSubmitted) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    make_item("DR-1");
    auto d = create_ok(eddie, "DR-1", {{"workflow", "quick-review"}, {"draft", true}});
    const std::string id = d["id"];
    EXPECT_EQ(d["state"], "draft");
    EXPECT_EQ(sign(erin, id, "approved").status, 409) << "a draft accepts no signatures";
    EXPECT_EQ(client(erin).post_json("/api/approvals/" + id + "/submit", json::object()).status,
              403);
    auto s = client(eddie).post_json("/api/approvals/" + id + "/submit", json::object());
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.js()["state"], "pending");
    EXPECT_EQ(client(eddie).post_json("/api/approvals/" + id + "/submit", json::object()).status,
              409);
    EXPECT_EQ(client(eddie).request("POST", "/api/approvals/" + id + "/submit").status, 409);
    EXPECT_EQ(
        client(eddie)
            .post_json("/api/approvals/00000000-0000-4000-8000-000000000001/submit", json::object())
            .status,
        404);
    EXPECT_EQ(sign(erin, id, "approved").status, 200);
    EXPECT_EQ(audit_rows("approval.submitted", id), 1);
    EXPECT_EQ(event_rows("approval.submitted", id), 1);
}

TEST_P(Approvals, BadInputGetsA4xxAndWritesNothing) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    make_item("BAD-1");
    auto before_audit = count("SELECT COUNT(*) FROM audit_log");
    auto expect_400 = [&](const json& body, const char* what) {
        auto r = create(eddie, "BAD-1", body);
        EXPECT_EQ(r.status, 400) << what << ": " << r.body;
        EXPECT_EQ(r.js()["error"], "bad_request") << what;
        EXPECT_FALSE(r.js().value("message", "").empty()) << what;
    };
    expect_400(json::object(), "no workflow");
    expect_400({{"workflow", "no-such-workflow"}}, "unknown workflow");
    expect_400({{"workflow", 7}}, "workflow not a string");
    expect_400({{"workflow", "quick-review"}, {"signers", "erin"}}, "signers not an array");
    expect_400({{"workflow", "quick-review"}, {"signers", {{{"username", "erin"}}}}},
               "signer without role");
    expect_400(
        {{"workflow", "quick-review"}, {"signers", {{{"username", "ghost"}, {"role", "editor"}}}}},
        "unknown signer");
    expect_400(
        {{"workflow", "quick-review"}, {"signers", {{{"username", "erin"}, {"role", "quality"}}}}},
        "not a gate role");
    expect_400({{"workflow", "quick-review"}, {"draft", "yes"}}, "draft not a boolean");
    expect_400({{"workflow", "quick-review"}, {"eco_number", 12}}, "eco_number not a string");
    expect_400({{"workflow", "quick-review"}, {"resource_type", "widget"}}, "resource without id");
    expect_400({{"workflow", "quick-review"}, {"resource_type", "Not Valid"}, {"resource_id", "x"}},
               "bad resource_type");
    auto malformed =
        client(eddie).request("POST", "/api/items/BAD-1/approvals",
                              "{\"workflow\":", {{"Content-Type", "application/json"}});
    EXPECT_EQ(malformed.status, 400);
    auto not_found = create(eddie, "NOPE-1", {{"workflow", "quick-review"}});
    EXPECT_EQ(not_found.status, 404);
    EXPECT_EQ(not_found.js()["error"], "not_found");
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), before_audit);

    // Signatures: unknown status, wrong types, unknown approvals.
    auto a = create_ok(eddie, "BAD-1", {{"workflow", "quick-review"}});
    const std::string id = a["id"];
    auto unchanged = get(id);
    before_audit = count("SELECT COUNT(*) FROM audit_log");
    auto before_events = count("SELECT COUNT(*) FROM events");
    for (const auto& body :
         {json{{"status", "approve"}}, json{{"status", "APPROVED"}}, json::object(),
          json{{"status", 1}}, json{{"status", "approved"}, {"comment", 5}},
          json{{"status", "approved"}, {"comment", std::string(5000, 'x')}}}) {
        auto r = client(erin).post_json("/api/approvals/" + id + "/sign", body);
        EXPECT_EQ(r.status, 400) << body.dump() << ": " << r.body;
        EXPECT_EQ(r.js()["error"], "bad_request");
        auto r2 = client(erin).post_json("/api/items/BAD-1/approvals/" + id + "/sign", body);
        EXPECT_EQ(r2.status, 400) << body.dump() << ": " << r2.body;
    }
    EXPECT_EQ(client(erin)
                  .request("POST", "/api/approvals/" + id + "/sign", "not json",
                           {{"Content-Type", "application/json"}})
                  .status,
              400);
    EXPECT_EQ(sign(erin, "00000000-0000-4000-8000-000000000001", "approved").status, 404);
    EXPECT_EQ(sign(erin, "not-a-uuid", "approved").status, 404);
    EXPECT_EQ(get(id), unchanged);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approval_signatures"), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), before_audit);
    EXPECT_EQ(count("SELECT COUNT(*) FROM events"), before_events);
    EXPECT_EQ(client(erin).get("/api/approvals/not-a-uuid").status, 404);
    EXPECT_EQ(client(erin).get("/api/approvals/00000000-0000-4000-8000-000000000001").status, 404);
}

// Two users eligible for the single required gate of quick-review sign at the same instant,
// for many approvals: each completes exactly once (one 200, one 409), with one
// approval.completed audit row and event. On PostgreSQL the two signers talk to two server
// instances sharing the database.
TEST_P(Approvals, ConcurrentSignersCompleteOnce) {
    auto eddie = make_user("eddie", "editor");
    auto erin = make_user("erin", "editor");
    auto frank = make_user("frank", "editor");
    make_item("CC-1");
    int other_port = port();
    if (GetParam() == Db::postgres) {
        auto o = options();
        o.pg_url = server->pg_url();
        second = ServerProcess::start(o);
        other_port = second->port();
    }
    constexpr int kRounds = 20;
    std::vector<std::string> ids;
    for (int i = 0; i < kRounds; ++i)
        ids.push_back(create_ok(eddie, "CC-1", {{"workflow", "quick-review"}})["id"]);

    std::atomic<int> ok{0}, conflicts{0}, other{0};
    std::barrier sync(2);
    auto signer = [&](int port_, const std::string& token) {
        auto c = as(port_, token);
        for (const auto& id : ids) {
            sync.arrive_and_wait();
            auto r = c.post_json("/api/approvals/" + id + "/sign", {{"status", "approved"}});
            if (r.status == 200)
                ++ok;
            else if (r.status == 409)
                ++conflicts;
            else
                ++other;
        }
    };
    std::thread t1(signer, port(), erin);
    std::thread t2(signer, other_port, frank);
    t1.join();
    t2.join();
    EXPECT_EQ(ok.load(), kRounds);
    EXPECT_EQ(conflicts.load(), kRounds);
    EXPECT_EQ(other.load(), 0);
    for (const auto& id : ids) {
        auto a = get(id);
        EXPECT_EQ(a["state"], "approved");
        EXPECT_EQ(a["signatures"].size(), 1u);
        EXPECT_EQ(audit_rows("approval.signed", id), 1);
        EXPECT_EQ(audit_rows("approval.completed", id), 1);
        EXPECT_EQ(event_rows("approval.completed", id), 1);
    }
    EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'approval.completed'"), kRounds);
    EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'approval.completed'"), kRounds);
    EXPECT_EQ(client(admin).get("/api/audit/verify").js()["ok"], true);
}

INSTANTIATE_TEST_SUITE_P(Db, Approvals, ::testing::Values(Db::sqlite, Db::postgres), param_name);

// ---------------------------------------------------------------------------------------------
// Without a database parameter.

// With authentication disabled, the synthetic admin creates and (when self-approval is
// allowed) signs. Without self-approval nobody could ever sign: the approval is refused.
TEST(ApprovalsNoAuth, TheSyntheticAdminMaySign) {
    for (bool allow_self : {true, false}) {
        ServerOptions o;
        o.extra_yaml = std::string("approvals:\n  allow_self_approval: ") +
                       (allow_self ? "true" : "false") + "\n";
        auto s = ServerProcess::start(o);
        auto c = s->client();
        ASSERT_EQ(c.post_json("/api/items", {{"part_number", "NA-1"}}).status, 201);
        auto a = c.post_json("/api/items/NA-1/approvals", {{"workflow", "session-override"}});
        if (allow_self) {
            ASSERT_EQ(a.status, 201) << a.body;
            EXPECT_EQ(a.js()["created_by"], "admin");
            auto r = c.post_json("/api/approvals/" + a.js()["id"].get<std::string>() + "/sign",
                                 {{"status", "approved"}});
            ASSERT_EQ(r.status, 200) << r.body;
            EXPECT_EQ(r.js()["state"], "approved");
            EXPECT_EQ(r.js()["signatures"][0]["username"], "admin");
        } else {
            EXPECT_EQ(a.status, 400) << a.body;
            EXPECT_EQ(a.js()["error"], "bad_request") << a.body;
            EXPECT_NE(a.body.find("nobody could sign"), std::string::npos) << a.body;
            EXPECT_EQ(c.get("/api/items/NA-1/approvals").header("x-total-count"), "0");
        }
        EXPECT_EQ(s->stop(), 0) << s->log();
    }
}

// A bad workflow file stops start-up with a message naming the file and the field.
TEST(ApprovalsStartup, ABadWorkflowFileStopsStartUp) {
    struct Case {
        const char* file;
        std::string content;
        const char* expect;  // part of the message besides the file name
    };
    const std::string good =
        "workflow:\n  name: fine\n  version: 1\n  states: [pending, approved, rejected]\n"
        "  gates:\n    - {role: editor, label: Review, required: true}\n"
        "  rules: {any_reject: rejected, all_required_approve: approved}\n";
    std::vector<Case> cases = {
        {"missing-state.yaml",
         "workflow:\n  name: broken\n  version: 1\n  states: [draft, approved, rejected]\n"
         "  gates:\n    - {role: editor, label: Review, required: true}\n"
         "  rules: {any_reject: rejected, all_required_approve: approved}\n",
         "workflow.states"},
        {"bad-rule.yaml",
         "workflow:\n  name: broken\n  version: 1\n  states: [pending, approved, rejected]\n"
         "  gates:\n    - {role: editor, label: Review, required: true}\n"
         "  rules: {any_reject: rejectd, all_required_approve: approved}\n",
         "workflow.rules.any_reject"},
        {"not-yaml.yaml", "workflow: [unclosed\n  name: {\n", "YAML"},
        {"zz-duplicate.yaml", good, "already declared"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        auto dir = make_temp_dir("silod-wf");
        std::filesystem::create_directories(dir + "/workflows");
        write_file(dir + "/workflows/a-good.yaml", good);
        write_file(dir + "/workflows/" + c.file, c.content);
        write_file(dir + "/silod.yaml",
                   "server:\n  host: 127.0.0.1\n  port: 0\n"
                   "database:\n  driver: sqlite\n  path: " +
                       dir +
                       "/silo.db\n"
                       "storage:\n  root_dir: " +
                       dir +
                       "/files\n"
                       "auth:\n  enabled: false\n"
                       "workflows:\n  directory: " +
                       dir + "/workflows\n");
        auto r = run_silod({"--config", dir + "/silod.yaml"});
        EXPECT_NE(r.exit_code, 0) << r.output;
        EXPECT_NE(r.output.find(c.file), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("\"listening\""), std::string::npos) << r.output;
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
}

}  // namespace
