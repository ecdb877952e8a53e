// The audit chain (API.md §9) against someone who can write the database: the hash itself
// against known vectors, and verify() against each way of tampering with the rows (edit,
// delete, truncate the tail, append a forged row with a correct hash, swap two rows, rewrite a
// row and every hash after it), each naming the first bad row. Both dialects.
#include "storage/audit_repository.hpp"

#include "core/sha256.hpp"
#include "support/test_db.hpp"

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;

// Computed outside silod (Python's hashlib over "len:field;" of prev, id, at, actor, action,
// resource_type, resource_id, details; lengths in UTF-8 bytes).
TEST(AuditHash, KnownVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string first = "1c7095fef8beab8bf6798094f05accdea51d43f4ac1866ddce742f4e048404b3";
    EXPECT_EQ(AuditRepository::row_hash("", 1, 1700000000000, "admin", "item.created", "item",
                                        "4f1c2d3e-0000-4000-8000-000000000001", R"({"part_number":"F01-0001"})"),
              first);
    EXPECT_EQ(AuditRepository::row_hash(first, 2, 1700000000001, "b\xC3\xA9"
                                                                 "a",
                                        "auth.login_failed", "user", "", R"({"address":"127.0.0.1"})"),
              "9c997841255af94d04329f0efa0770cf7abc361387f0ad39dd12dd8c2beb046d");
    // Length prefixes: moving a character between two fields changes the hash.
    EXPECT_NE(AuditRepository::row_hash("", 1, 1, "ab", "c", "", "", "{}"),
              AuditRepository::row_hash("", 1, 1, "a", "bc", "", "", "{}"));
}

class AuditChainTest : public test::DialectTest {
protected:
    void SetUp() override {
        DialectTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        for (int i = 1; i <= 6; ++i)
            write([&](Tx& tx) {
                AuditRepository::append(tx, {"admin", "item.created", "item", "id-" + std::to_string(i),
                                             {{"n", i}}},
                                        1000 + i);
            });
        original_.assign(1, "");
        for (int i = 1; i <= 6; ++i) original_.push_back(row(i).hash);
    }
    AuditVerification verify_with(AuditAnchor anchor) {
        AuditVerification v;
        auto st = db().transact(TxMode::read, [&](Tx& tx) -> Status {
            v = AuditRepository::verify(tx, anchor);
            return {};
        });
        EXPECT_TRUE(st.ok());
        return v;
    }
    std::vector<std::string> original_;  // hashes of rows 1..6 as written
    void write(const std::function<void(Tx&)>& fn) {
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            fn(tx);
            return {};
        });
        ASSERT_TRUE(st.ok()) << st.error().message;
    }
    AuditVerification verify() {
        AuditVerification v;
        auto st = db().transact(TxMode::read, [&](Tx& tx) -> Status {
            v = AuditRepository::verify(tx);
            return {};
        });
        EXPECT_TRUE(st.ok());
        return v;
    }
    AuditEntry row(std::int64_t id) {
        AuditEntry e;
        write([&](Tx& tx) {
            auto r = tx.query_one(
                "SELECT id, at, actor, action, resource_type, resource_id, details, prev_hash, hash FROM audit_log "
                "WHERE id = $1",
                {id});
            ASSERT_TRUE(r);
            e = {r->i64(0), r->i64(1), r->str(2), r->str(3), r->str(4), r->str(5), r->str(6), r->str(7), r->str(8)};
        });
        return e;
    }
    // Rewrites a row with a correctly computed hash over its (possibly new) content and prev.
    void rewrite(const AuditEntry& e) {
        auto hash = AuditRepository::row_hash(e.prev_hash, e.id, e.at, e.actor, e.action, e.resource_type,
                                              e.resource_id, e.details);
        write([&](Tx& tx) {
            tx.exec("DELETE FROM audit_log WHERE id = $1", {e.id});
            tx.exec("INSERT INTO audit_log (id, at, actor, action, resource_type, resource_id, details, prev_hash, "
                    "hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    {e.id, e.at, e.actor, e.action, e.resource_type, e.resource_id, e.details, e.prev_hash, hash});
        });
    }
    void expect_bad(std::int64_t first_bad, const char* what) {
        auto v = verify();
        EXPECT_FALSE(v.ok) << what;
        EXPECT_EQ(v.first_bad_id.value_or(-1), first_bad) << what;
    }
};

TEST_P(AuditChainTest, AnIntactChainVerifies) {
    auto v = verify();
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.checked, 6);
    EXPECT_FALSE(v.first_bad_id);
}

TEST_P(AuditChainTest, AnEditedRowIsNamed) {
    write([](Tx& tx) { tx.exec("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"); });
    expect_bad(3, "edited actor");
}

TEST_P(AuditChainTest, AnEditedRowWithItsOwnHashRecomputedBreaksTheNextLink) {
    auto e = row(3);
    e.details = R"({"n":33})";
    rewrite(e);
    expect_bad(4, "row 3 rewritten with a correct hash: row 4's prev_hash no longer matches");
}

TEST_P(AuditChainTest, ADeletedRowIsNamed) {
    write([](Tx& tx) { tx.exec("DELETE FROM audit_log WHERE id = 2"); });
    expect_bad(2, "deleted row");
}

TEST_P(AuditChainTest, ATruncatedTailIsCaughtThroughTheHead) {
    write([](Tx& tx) { tx.exec("DELETE FROM audit_log WHERE id >= 5"); });
    expect_bad(5, "rows 5 and 6 removed: the head still names row 6");
}

TEST_P(AuditChainTest, AForgedAppendedRowWithACorrectHashIsCaughtThroughTheHead) {
    auto last = row(6);
    AuditEntry forged{7, 2000, "admin", "user.created", "user", "u-mallory", R"({"username":"mallory"})", last.hash, ""};
    rewrite(forged);
    expect_bad(7, "a seventh row chained correctly, but the head names row 6");
}

TEST_P(AuditChainTest, TwoSwappedRowsAreNamed) {
    auto a = row(3), b = row(4);
    std::swap(a.id, b.id);  // each keeps its content, hash and prev_hash under the other's id
    write([&](Tx& tx) { tx.exec("DELETE FROM audit_log WHERE id IN (3, 4)"); });
    for (const auto& e : {a, b})
        write([&](Tx& tx) {
            tx.exec("INSERT INTO audit_log (id, at, actor, action, resource_type, resource_id, details, prev_hash, "
                    "hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    {e.id, e.at, e.actor, e.action, e.resource_type, e.resource_id, e.details, e.prev_hash, e.hash});
        });
    expect_bad(3, "rows 3 and 4 swapped");
}

// Rewriting a row and every hash after it leaves a chain that is consistent in itself; what
// gives it away is the head, which still holds the old last hash. The first row that disagrees
// with an anchor is the last one (the head is the only anchor in the database: see
// docs/auth.md on keeping its hash elsewhere).
TEST_P(AuditChainTest, ARowRewrittenWithEveryLaterHashIsCaughtThroughTheHead) {
    std::string prev = row(2).hash;
    for (std::int64_t id = 3; id <= 6; ++id) {
        auto e = row(id);
        if (id == 3) e.actor = "mallory";
        e.prev_hash = prev;
        rewrite(e);
        prev = row(id).hash;
    }
    expect_bad(6, "rows 3..6 rehashed, head untouched");
    // Rewriting the head too leaves nothing inside the database to tell; an anchor kept
    // outside (the head of an earlier verification) does.
    write([&](Tx& tx) { tx.exec("UPDATE audit_head SET last_hash = $1 WHERE id = 1", {prev}); });
    EXPECT_TRUE(verify().ok);
    EXPECT_EQ(verify_with({5, original_[5]}).first_bad_id.value_or(-1), 5) << "row 5 is not what it was";
}

TEST_P(AuditChainTest, AnAnchorFromOutsideHoldsAndNamesWhatMoved) {
    auto v = verify();
    EXPECT_EQ(v.head_id, 6);
    EXPECT_EQ(v.head_hash, original_[6]);
    EXPECT_TRUE(verify_with({4, original_[4]}).ok);
    EXPECT_TRUE(verify_with({6, original_[6]}).ok);
    EXPECT_EQ(verify_with({4, original_[5]}).first_bad_id.value_or(-1), 4) << "a wrong hash for row 4";
    // Truncating below the anchor names the first missing row (the head is moved as well).
    write([](Tx& tx) {
        tx.exec("DELETE FROM audit_log WHERE id >= 5");
        tx.exec("UPDATE audit_head SET last_id = 4, last_hash = (SELECT hash FROM audit_log WHERE id = 4) WHERE id = 1");
    });
    EXPECT_TRUE(verify().ok) << "without the anchor a cut tail that moved the head is invisible";
    EXPECT_EQ(verify_with({6, original_[6]}).first_bad_id.value_or(-1), 5);
}

SILO_INSTANTIATE_DIALECTS(AuditChainTest);

}  // namespace
}  // namespace silo
