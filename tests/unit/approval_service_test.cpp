// ApprovalService on both dialects, below HTTP: completion hooks (same transaction, exactly
// once, rollback on failure), cancel / create_in / find_pending inside a caller's transaction,
// managed resource types, the inbox filter, and concurrent signers on two database handles.
#include "service/approval_service.hpp"

#include <atomic>
#include <barrier>
#include <thread>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "storage/item_repository.hpp"
#include "storage/user_repository.hpp"
#include "support/test_db.hpp"

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;

constexpr const char* kQuickReview = R"(
workflow:
  name: quick-review
  version: 1
  states: [draft, pending, approved, rejected]
  gates:
    - {role: editor, label: "Peer Review", required: true}
  rules: {any_reject: rejected, all_required_approve: approved}
)";

constexpr const char* kTwoGates = R"(
workflow:
  name: two-gates
  version: 1
  states: [pending, approved, rejected]
  gates:
    - {role: editor, label: "Engineering", required: true}
    - {role: quality, label: "Quality", required: true}
  rules: {any_reject: rejected, all_required_approve: approved}
)";

std::map<std::string, Workflow> test_workflows() {
    std::map<std::string, Workflow> out;
    for (const char* text : {kQuickReview, kTwoGates}) {
        auto wf = parse_workflow(text, "test.yaml");
        EXPECT_TRUE(wf.ok()) << wf.error().message;
        out.emplace(wf->name, std::move(*wf));
    }
    return out;
}

class ApprovalServiceTest : public test::DialectTest {
  protected:
    void SetUp() override {
        DialectTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        service_ = std::make_unique<ApprovalService>(db(), notifier_, test_workflows(), false);
        alice_ = add_user("alice", Role::editor);
        bob_ = add_user("bob", Role::editor);
        carol_ = add_user("carol", Role::editor);
        vera_ = add_user("vera", Role::viewer);
        item_ = add_item("APR-1");
    }

    Principal add_user(const std::string& name, Role role, sql::Database* on = nullptr) {
        UserRecord u;
        u.id = new_uuid();
        u.username = name;
        u.role = role;
        u.created_at = u.updated_at = now_millis();
        auto st = (on ? *on : db()).transact(TxMode::write, [&](Tx& tx) -> Status {
            EXPECT_TRUE(UserRepository::insert(tx, u));
            return {};
        });
        EXPECT_TRUE(st.ok());
        Principal p;
        p.user_id = u.id;
        p.username = name;
        p.role = role;
        return p;
    }

    ItemRecord add_item(const std::string& pn) {
        ItemRecord r;
        r.id = new_uuid();
        r.part_number = pn;
        r.item_type = "part";
        r.created_by = "alice";
        r.created_at = r.updated_at = now_millis();
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            EXPECT_TRUE(ItemRepository::insert(tx, r));
            return {};
        });
        EXPECT_TRUE(st.ok());
        return r;
    }

    // An approval of resource (type, id) created inside a transaction, as a service would.
    ApprovalRecord create_for(const std::string& type, const std::string& id,
                              const std::string& workflow = "quick-review",
                              std::vector<Designation> signers = {}) {
        CreateApprovalInput in;
        in.workflow = workflow;
        in.signers = std::move(signers);
        in.resource_type = type;
        in.resource_id = id;
        auto a = db().transact<ApprovalRecord>(
            TxMode::write, [&](Tx& tx) { return service_->create_in(tx, alice_, item_.id, in); });
        EXPECT_TRUE(a.ok()) << a.error().message;
        return a.ok() ? *a : ApprovalRecord{};
    }

    std::int64_t count(const std::string& sql, const std::string& param,
                       sql::Database* on = nullptr) {
        auto r = (on ? *on : db())
                     .transact<std::int64_t>(TxMode::read, [&](Tx& tx) -> Result<std::int64_t> {
                         return tx.query_one(sql, {param})->i64(0);
                     });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : -1;
    }
    std::int64_t audit_rows(const std::string& action, const std::string& approval_id) {
        return count(
            "SELECT COUNT(*) FROM audit_log WHERE action = '" + action + "' AND resource_id = $1",
            approval_id);
    }
    std::int64_t event_rows(const std::string& type, const std::string& approval_id) {
        // The payload is one-line JSON with "approval_id":"<id>".
        return count("SELECT COUNT(*) FROM events WHERE type = '" + type + "' AND data LIKE $1",
                     "%\"approval_id\":\"" + approval_id + "\"%");
    }

    NullNotifier notifier_;
    std::unique_ptr<ApprovalService> service_;
    Principal alice_, bob_, carol_, vera_;
    ItemRecord item_;
};

TEST_P(ApprovalServiceTest, CreateSignCompleteWithAuditAndEvents) {
    CreateApprovalInput in;
    in.workflow = "quick-review";
    in.eco_number = "ECO-7";
    auto a = service_->create(alice_, "apr-1", in);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->state, "pending");
    EXPECT_EQ(a->resource_type, "item");
    EXPECT_EQ(a->resource_id, item_.id);
    EXPECT_EQ(a->part_number, "APR-1");
    EXPECT_EQ(a->created_by, "alice");
    EXPECT_EQ(audit_rows("approval.created", a->id), 1);
    EXPECT_EQ(event_rows("approval.created", a->id), 1);

    // The creator may not sign (allow_self_approval false); nothing is written.
    auto self = service_->sign(alice_, a->id, {"approved", ""});
    ASSERT_FALSE(self.ok());
    EXPECT_EQ(self.error().code, Errc::forbidden);

    auto s = service_->sign(bob_, a->id, {"approved", "looks good"});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->state, "approved");
    ASSERT_EQ(s->signatures.size(), 1u);
    EXPECT_EQ(s->signatures[0].username, "bob");
    EXPECT_EQ(s->signatures[0].role, "editor");
    EXPECT_EQ(s->signatures[0].comment, "looks good");
    EXPECT_EQ(audit_rows("approval.signed", a->id), 1);
    EXPECT_EQ(audit_rows("approval.completed", a->id), 1);
    EXPECT_EQ(event_rows("approval.signed", a->id), 1);
    EXPECT_EQ(event_rows("approval.completed", a->id), 1);

    auto again = service_->sign(carol_, a->id, {"approved", ""});
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Errc::conflict);

    auto got = service_->get(a->id);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->state, "approved");
    EXPECT_EQ(got->eco_number.value_or(""), "ECO-7");
}

TEST_P(ApprovalServiceTest, BadInputWritesNothing) {
    CreateApprovalInput in;
    in.workflow = "no-such-workflow";
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.workflow = "quick-review";
    EXPECT_EQ(service_->create(alice_, "NOPE-1", in).error().code, Errc::not_found);
    in.signers = {{"nobody", "editor"}};
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.signers = {{"bob", "quality"}};  // not a gate role of quick-review
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.signers = {{"bob", "editor"}, {"BOB", "editor"}};
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.signers.clear();
    in.resource_type = "Bad Type";
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.resource_type = "widget";  // needs a resource_id
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    in.resource_type = "item";
    in.resource_id = new_uuid();  // another item's id
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approvals WHERE item_id = $1", item_.id), 0);

    auto a = create_for("item", item_.id);
    auto bad = service_->sign(bob_, a.id, {"maybe", ""});
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, Errc::bad_request);
    EXPECT_EQ(service_->sign(bob_, new_uuid(), {"approved", ""}).error().code, Errc::not_found);
    EXPECT_EQ(service_->sign(bob_, "not-a-uuid", {"approved", ""}).error().code, Errc::not_found);
    auto other = add_item("APR-2");
    EXPECT_EQ(service_->sign(bob_, a.id, {"approved", ""}, std::string("APR-2")).error().code,
              Errc::not_found);
    EXPECT_EQ(count("SELECT COUNT(*) FROM approval_signatures WHERE approval_id = $1", a.id), 0);
    EXPECT_EQ(audit_rows("approval.signed", a.id), 0);
    EXPECT_EQ(service_->get(a.id)->state, "pending");
}

TEST_P(ApprovalServiceTest, HookRunsOnceInsideTheDecidingTransaction) {
    int calls = 0;
    std::string seen_state, seen_in_tx;
    service_->on_complete(
        "widget", [&](Tx& tx, const ApprovalRecord& a, const std::string& final_state) -> Status {
            ++calls;
            seen_state = final_state;
            // The approval row is already updated in this transaction.
            seen_in_tx = tx.query_one("SELECT state FROM approvals WHERE id = $1", {a.id})->str(0);
            tx.exec("UPDATE items SET description = 'hooked' WHERE id = $1", {a.item_id});
            return {};
        });
    auto a = create_for("widget", "w-1", "two-gates", {{"vera", "quality"}});
    // two-gates: editor and a designated-only quality gate: bob signs the editor gate, the
    // approval stays pending, no hook.
    auto s1 = service_->sign(bob_, a.id, {"approved", ""});
    ASSERT_TRUE(s1.ok()) << s1.error().message;
    EXPECT_EQ(s1->state, "pending");
    EXPECT_EQ(calls, 0);
    // carol's gate (editor) is settled: her signature would decide nothing and is refused.
    EXPECT_EQ(service_->sign(carol_, a.id, {"rejected", "no"}).error().code, Errc::conflict);
    // A rejection decides it: the hook runs once with the any_reject state.
    auto s2 = service_->sign(vera_, a.id, {"rejected", "no"});
    ASSERT_TRUE(s2.ok()) << s2.error().message;
    EXPECT_EQ(s2->state, "rejected");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seen_state, "rejected");
    EXPECT_EQ(seen_in_tx, "rejected");
    EXPECT_EQ(
        count("SELECT COUNT(*) FROM items WHERE description = 'hooked' AND id = $1", item_.id), 1);
    // No later signature reaches it again.
    EXPECT_EQ(service_->sign(alice_, a.id, {"approved", ""}).error().code, Errc::conflict);
    EXPECT_EQ(calls, 1);
}

TEST_P(ApprovalServiceTest, AFailingHookRollsTheSignatureBack) {
    int calls = 0;
    service_->on_complete("widget", [&](Tx&, const ApprovalRecord&, const std::string&) -> Status {
        ++calls;
        return conflict("the widget is gone");
    });
    auto a = create_for("widget", "w-2");
    auto s = service_->sign(bob_, a.id, {"approved", ""});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::conflict);
    EXPECT_EQ(s.error().message, "the widget is gone");
    EXPECT_GE(calls, 1);
    auto got = service_->get(a.id);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->state, "pending");
    EXPECT_TRUE(got->signatures.empty());
    EXPECT_EQ(audit_rows("approval.signed", a.id), 0);
    EXPECT_EQ(audit_rows("approval.completed", a.id), 0);
    EXPECT_EQ(event_rows("approval.completed", a.id), 0);
}

TEST_P(ApprovalServiceTest, ManagedResourceTypesAreCreatedByTheirServiceOnly) {
    service_->on_complete(
        "edit_session",
        [](Tx&, const ApprovalRecord&, const std::string&) -> Status { return {}; });
    CreateApprovalInput in;
    in.workflow = "quick-review";
    in.resource_type = "edit_session";
    in.resource_id = new_uuid();
    auto r = service_->create(alice_, "APR-1", in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    // ... while the service path may.
    auto a = create_for("edit_session", in.resource_id);
    EXPECT_EQ(a.resource_type, "edit_session");
}

TEST_P(ApprovalServiceTest, CancelAndFindPendingInsideACallersTransaction) {
    const std::string sid = new_uuid();
    auto none = db().transact<std::optional<ApprovalRecord>>(
        TxMode::read, [&](Tx& tx) { return service_->find_pending(tx, "edit_session", sid); });
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());

    auto a = create_for("edit_session", sid);
    auto found = db().transact<std::optional<ApprovalRecord>>(
        TxMode::read, [&](Tx& tx) { return service_->find_pending(tx, "edit_session", sid); });
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->id, a.id);

    // A failing caller transaction rolls the cancel back.
    auto failed = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        SILO_CHECK(service_->cancel(tx, a.id, "admin"));
        return conflict("caller gives up");
    });
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(service_->get(a.id)->state, "pending");

    auto st = db().transact(TxMode::write,
                            [&](Tx& tx) -> Status { return service_->cancel(tx, a.id, "admin"); });
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto got = service_->get(a.id);
    EXPECT_EQ(got->state, "cancelled");
    EXPECT_EQ(got->updated_by, "admin");
    EXPECT_EQ(audit_rows("approval.completed", a.id), 1);
    EXPECT_EQ(event_rows("approval.completed", a.id), 1);
    auto again = db().transact(
        TxMode::write, [&](Tx& tx) -> Status { return service_->cancel(tx, a.id, "admin"); });
    EXPECT_EQ(again.error().code, Errc::conflict);
    EXPECT_EQ(service_->sign(bob_, a.id, {"approved", ""}).error().code, Errc::conflict);
    auto after = db().transact<std::optional<ApprovalRecord>>(
        TxMode::read, [&](Tx& tx) { return service_->find_pending(tx, "edit_session", sid); });
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->has_value());
}

TEST_P(ApprovalServiceTest, DraftsAreSubmittedByTheirCreator) {
    CreateApprovalInput in;
    in.workflow = "quick-review";
    in.draft = true;
    auto a = service_->create(alice_, "APR-1", in);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->state, "draft");
    EXPECT_EQ(service_->sign(bob_, a->id, {"approved", ""}).error().code, Errc::conflict);
    EXPECT_EQ(service_->submit(bob_, a->id).error().code, Errc::forbidden);
    auto s = service_->submit(alice_, a->id);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->state, "pending");
    EXPECT_EQ(service_->submit(alice_, a->id).error().code, Errc::conflict);
    in.workflow = "two-gates";  // declares no draft state
    EXPECT_EQ(service_->create(alice_, "APR-1", in).error().code, Errc::bad_request);
}

TEST_P(ApprovalServiceTest, TheInboxHoldsWhatTheCallerMaySignNow) {
    CreateApprovalInput quick;
    quick.workflow = "quick-review";
    auto by_alice = service_->create(alice_, "APR-1", quick);
    auto by_bob = service_->create(bob_, "APR-1", quick);
    CreateApprovalInput designated;
    designated.workflow = "two-gates";
    designated.signers = {{"carol", "quality"}};
    auto two = service_->create(alice_, "APR-1", designated);
    ASSERT_TRUE(by_alice.ok() && by_bob.ok() && two.ok());

    auto ids = [&](const Principal& p) {
        ApprovalQuery q;
        q.inbox = true;
        auto page = service_->list(p, q);
        EXPECT_TRUE(page.ok());
        std::vector<std::string> out;
        for (const auto& a : page->approvals) out.push_back(a.id);
        EXPECT_EQ(page->total, static_cast<std::int64_t>(out.size()));
        return out;
    };
    // Newest first; never one's own; viewers are eligible for nothing here.
    EXPECT_EQ(ids(alice_), (std::vector<std::string>{by_bob->id}));
    EXPECT_EQ(ids(bob_), (std::vector<std::string>{two->id, by_alice->id}));
    EXPECT_EQ(ids(carol_), (std::vector<std::string>{two->id, by_bob->id, by_alice->id}));
    EXPECT_TRUE(ids(vera_).empty());

    // carol may sign either gate of two-gates; her signature goes to the gate she was named
    // for (quality), so the editor gate stays open for bob.
    auto by_carol = service_->sign(carol_, two->id, {"approved", ""});
    ASSERT_TRUE(by_carol.ok()) << by_carol.error().message;
    EXPECT_EQ(by_carol->signatures.back().role, "quality");
    EXPECT_EQ(ids(carol_), (std::vector<std::string>{by_bob->id, by_alice->id}));
    ASSERT_TRUE(service_->sign(carol_, by_bob->id, {"approved", ""}).ok());
    EXPECT_EQ(ids(alice_), std::vector<std::string>{});
    EXPECT_EQ(ids(bob_), (std::vector<std::string>{two->id, by_alice->id}));

    ApprovalQuery paged;
    paged.inbox = true;
    paged.limit = 1;
    paged.offset = 1;
    auto p = service_->list(bob_, paged);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->total, 2);
    ASSERT_EQ(p->approvals.size(), 1u);
    EXPECT_EQ(p->approvals[0].id, by_alice->id);
}

// Two "server instances" (two database handles, two services) and many signer pairs signing
// the single required gate at the same instant: each approval completes once, the hook runs
// once per approval.
TEST_P(ApprovalServiceTest, ConcurrentSignersCompleteOnceAcrossInstances) {
    auto other_db = sql::open_database(test_db().options());
    ASSERT_TRUE(other_db.ok()) << other_db.error().message;
    NullNotifier n2;
    ApprovalService second(**other_db, n2, test_workflows(), false);
    ASSERT_TRUE(db().transact(TxMode::write,
                              [](Tx& tx) -> Status {
                                  tx.exec("CREATE TABLE hook_effects (approval_id TEXT NOT NULL)");
                                  return {};
                              })
                    .ok());
    std::atomic<int> hook_calls{0};
    auto hook = [&](Tx& tx, const ApprovalRecord& a, const std::string&) -> Status {
        ++hook_calls;
        tx.exec("INSERT INTO hook_effects (approval_id) VALUES ($1)", {a.id});
        return {};
    };
    service_->on_complete("widget", hook);
    second.on_complete("widget", hook);

    constexpr int kRounds = 30;
    std::vector<std::string> ids;
    for (int i = 0; i < kRounds; ++i)
        ids.push_back(create_for("widget", "w-" + std::to_string(i)).id);

    // Four eligible signers, two per instance, released together for every approval.
    std::vector<Principal> signers{bob_, carol_, add_user("dave", Role::editor),
                                   add_user("erin", Role::admin)};
    std::atomic<int> ok{0}, conflicts{0}, other{0};
    std::barrier sync(static_cast<std::ptrdiff_t>(signers.size()));
    auto signer = [&](ApprovalService& svc, const Principal& who) {
        for (const auto& id : ids) {
            sync.arrive_and_wait();
            auto r = svc.sign(who, id, {"approved", ""});
            if (r.ok())
                ++ok;
            else if (r.error().code == Errc::conflict &&
                     r.error().message.find("accepts no more signatures") != std::string::npos)
                ++conflicts;  // decided under the approval's lock (not by a unique-key backstop)
            else
                ++other;
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < signers.size(); ++i)
        threads.emplace_back(signer, std::ref(i % 2 ? second : *service_), signers[i]);
    for (auto& t : threads) t.join();
    (*other_db)->close();

    EXPECT_EQ(ok.load(), kRounds);
    EXPECT_EQ(conflicts.load(), kRounds * static_cast<int>(signers.size() - 1));
    EXPECT_EQ(other.load(), 0);
    // A retried transaction (busy database) may run a hook again, but only one run per
    // approval commits: count the committed effects.
    for (const auto& id : ids) {
        auto a = service_->get(id);
        ASSERT_TRUE(a.ok());
        EXPECT_EQ(a->state, "approved");
        EXPECT_EQ(a->signatures.size(), 1u);
        EXPECT_EQ(audit_rows("approval.completed", id), 1);
        EXPECT_EQ(event_rows("approval.completed", id), 1);
        EXPECT_EQ(count("SELECT COUNT(*) FROM hook_effects WHERE approval_id = $1", id), 1);
    }
    EXPECT_GE(hook_calls.load(), kRounds);
}

SILO_INSTANTIATE_DIALECTS(ApprovalServiceTest);

}  // namespace
}  // namespace silo
