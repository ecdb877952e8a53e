// Contract tests of the SQL seam (sql.hpp): both drivers must pass them unchanged.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <thread>

#include "core/ids.hpp"
#include "storage/sql.hpp"
#include "support/test_db.hpp"

namespace silo {
namespace {

using sql::Dialect;
using sql::Tx;
using sql::TxMode;

class DatabaseTest : public test::DialectTest {
  protected:
    void SetUp() override {
        DialectTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
            tx.exec("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, d DOUBLE PRECISION, s TEXT)");
            return {};
        });
        ASSERT_TRUE(st.ok()) << st.error().message;
    }

    std::int64_t count_rows() {
        auto r = db().transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
            return tx.query_one("SELECT COUNT(*) FROM t")->i64(0);
        });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : -1;
    }
};

TEST_P(DatabaseTest, ReportsItsDialect) {
    EXPECT_EQ(db().dialect(), GetParam());
    Status st = db().transact(TxMode::read, [&](Tx& tx) -> Status {
        EXPECT_EQ(tx.dialect(), GetParam());
        return {};
    });
    EXPECT_TRUE(st.ok());
}

TEST_P(DatabaseTest, MigrateTwiceIsIdempotent) {
    ASSERT_TRUE(db().migrate().ok());
    ASSERT_TRUE(db().migrate().ok());
    auto r = db().transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT COUNT(*) FROM schema_migrations")->i64(0);
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, static_cast<std::int64_t>(sql::migrations(dialect()).size()));
}

TEST_P(DatabaseTest, MigrationVersionsAreStrictlyIncreasing) {
    int last = 0;
    for (const auto& m : sql::migrations(dialect())) {
        EXPECT_GT(m.version, last);
        last = m.version;
    }
    EXPECT_EQ(sql::migrations(Dialect::sqlite).size(), sql::migrations(Dialect::postgres).size())
        << "keep the two dialects' migrations in step";
}

TEST_P(DatabaseTest, MigratesAFreshDatabase) {
    auto fresh = test::open_test_database(dialect(), /*migrate=*/false);
    ASSERT_TRUE(fresh->migrate().ok());
    auto r = fresh->transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT MAX(version) FROM schema_migrations")->i64(0);
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, sql::migrations(dialect()).back().version);
}

TEST_P(DatabaseTest, ConcurrentMigrationsApplyEachVersionOnce) {
    auto fresh = test::open_test_database(dialect(), /*migrate=*/false);
    // Separate handles, as separate processes would have.
    std::vector<std::unique_ptr<sql::Database>> handles;
    for (int i = 0; i < 4; ++i) {
        auto h = sql::open_database(fresh->options());
        ASSERT_TRUE(h.ok());
        handles.push_back(std::move(h).value());
    }
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (auto& h : handles)
        threads.emplace_back([&h, &failures] {
            if (!h->migrate().ok()) ++failures;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    auto r = fresh->transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT COUNT(*) FROM schema_migrations")->i64(0);
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, static_cast<std::int64_t>(sql::migrations(dialect()).size()));
    for (auto& h : handles) h->close();
}

TEST_P(DatabaseTest, RoundTripsValues) {
    const std::int64_t big = std::numeric_limits<std::int64_t>::max();
    const std::int64_t small = std::numeric_limits<std::int64_t>::min();
    const std::string text = "h\xC3\xA9llo 'quoted' \"dq\" $1 ?1 \\ %_";
    Status st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        EXPECT_EQ(tx.exec("INSERT INTO t (k, n, d, s) VALUES ($1, $2, $3, $4)",
                          {std::string("a"), big, 0.1, text}),
                  1);
        EXPECT_EQ(tx.exec("INSERT INTO t (k, n, d, s) VALUES ($1, $2, $3, $4)",
                          {std::string("b"), small, -2.5e300, sql::null()}),
                  1);
        return {};
    });
    ASSERT_TRUE(st.ok()) << st.error().message;

    st = db().transact(TxMode::read, [&](Tx& tx) -> Status {
        auto rows = tx.query("SELECT k, n, d, s FROM t ORDER BY k");
        EXPECT_EQ(rows.size(), 2u);
        if (rows.size() != 2) return {};
        EXPECT_EQ(rows[0].str(0), "a");
        EXPECT_EQ(rows[0].i64(1), big);
        EXPECT_DOUBLE_EQ(rows[0].f64(2), 0.1);
        EXPECT_EQ(rows[0].str(3), text);
        EXPECT_EQ(rows[0].str(1), std::to_string(big));  // integers format as text
        EXPECT_EQ(rows[1].i64(1), small);
        EXPECT_DOUBLE_EQ(rows[1].f64(2), -2.5e300);
        EXPECT_TRUE(rows[1].is_null(3));
        EXPECT_FALSE(rows[1].opt_str(3).has_value());
        EXPECT_EQ(rows[1].opt_i64(1), small);
        EXPECT_EQ(rows[1].size(), 4u);
        return {};
    });
    EXPECT_TRUE(st.ok());
}

TEST_P(DatabaseTest, PlaceholdersInsideLiteralsAreLeftAlone) {
    auto r = db().transact<std::string>(TxMode::read, [](Tx& tx) -> Result<std::string> {
        auto row = tx.query_one("SELECT '$1 x' || $1 || '$2' -- $3 \n", {std::string("!")});
        return row->str(0);
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, "$1 x!$2");
}

TEST_P(DatabaseTest, ReusedPlaceholderAndNullParameter) {
    auto r = db().transact<std::int64_t>(TxMode::write, [](Tx& tx) -> Result<std::int64_t> {
        tx.exec("INSERT INTO t (k, n, s) VALUES ($1, $2, $1)", {std::string("x"), sql::null()});
        auto row = tx.query_one("SELECT n, s FROM t WHERE k = $1 AND s = $1", {std::string("x")});
        EXPECT_TRUE(row.has_value());
        EXPECT_TRUE(row->is_null(0));
        return tx.exec("UPDATE t SET n = $2 WHERE k = $1", {std::string("x"), std::int64_t{7}});
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
}

TEST_P(DatabaseTest, ExecCountsChangedRowsOnly) {
    Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
        for (int i = 0; i < 3; ++i)
            tx.exec("INSERT INTO t (k, n) VALUES ($1, $2)",
                    {std::string(1, static_cast<char>('a' + i)), std::int64_t{i}});
        EXPECT_EQ(tx.exec("UPDATE t SET n = n + 1 WHERE n >= $1", {std::int64_t{1}}), 2);
        EXPECT_EQ(tx.exec("CREATE TABLE u (x INTEGER)"), 0);
        EXPECT_EQ(tx.exec("SELECT * FROM t"), 0);
        EXPECT_EQ(tx.exec("DELETE FROM t WHERE k = $1", {std::string("zz")}), 0);
        EXPECT_EQ(tx.exec("WITH c AS (SELECT k FROM t) SELECT * FROM c"), 0);
        EXPECT_EQ(tx.exec("WITH v (k) AS (VALUES ('w')) INSERT INTO t (k) SELECT k FROM v"), 1);
        EXPECT_EQ(tx.exec("INSERT INTO t (k) VALUES ('r') RETURNING k"), 1);
        EXPECT_EQ(tx.exec("DELETE FROM t"), 5);
        return {};
    });
    EXPECT_TRUE(st.ok());
}

TEST_P(DatabaseTest, ErrorStatusRollsBack) {
    Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        return bad_request("no");
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::bad_request);
    EXPECT_EQ(st.error().message, "no");
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, ErrorResultRollsBack) {
    auto r = db().transact<int>(TxMode::write, [](Tx& tx) -> Result<int> {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        return not_found("gone");
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::not_found);
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, ExceptionRollsBackAsInternal) {
    Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        throw std::runtime_error("secret detail");
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::internal);
    EXPECT_EQ(st.error().message, "internal database error");
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, SqlErrorIsInternalAndNeverEchoed) {
    Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        tx.query("SELECT no_such_column_xyz FROM t");
        return {};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::internal);
    EXPECT_EQ(st.error().message.find("no_such_column_xyz"), std::string::npos);
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, RowTypeMismatchIsInternal) {
    Status st = db().transact(TxMode::read, [](Tx& tx) -> Status {
        tx.query_one("SELECT 'abc'")->i64(0);
        return {};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::internal);
}

TEST_P(DatabaseTest, UniqueViolationIsConflictAndRollsBack) {
    Status st = db().transact(TxMode::write, [](Tx& tx) -> Status {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("b")});
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        return {};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::conflict);
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, CommitsOnSuccessAndReturnsTheValue) {
    auto r = db().transact<std::string>(TxMode::write, [](Tx& tx) -> Result<std::string> {
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        return std::string("done");
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "done");
    EXPECT_EQ(count_rows(), 1);
}

TEST_P(DatabaseTest, RetryableFailuresAreRetried) {
    int calls = 0;
    Status st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        ++calls;
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        if (calls < 3) throw sql::DbError(sql::DbError::Kind::retryable, "simulated busy");
        return {};
    });
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(count_rows(), 1);  // the failed attempts left nothing behind
}

TEST_P(DatabaseTest, RetriesAreBounded) {
    int calls = 0;
    Status st = db().transact(TxMode::write, [&](Tx&) -> Status {
        ++calls;
        throw sql::DbError(sql::DbError::Kind::retryable, "simulated busy");
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::unavailable);
    EXPECT_GE(calls, 2);
    EXPECT_LE(calls, 12);
}

// A full disk under the database (SQLite: SQLITE_FULL, provoked with max_page_count;
// PostgreSQL: SQLSTATE 53100 disk_full) is insufficient_storage (507), never retried, and the
// transaction leaves nothing behind.
TEST_P(DatabaseTest, AFullDiskIsInsufficientStorageAndRollsBack) {
    int calls = 0;
    Status st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        ++calls;
        tx.exec("INSERT INTO t (k) VALUES ('before')");
        if (dialect() == Dialect::sqlite) {
            auto pages = tx.query_one("PRAGMA page_count")->i64(0);
            tx.exec("PRAGMA max_page_count = " + std::to_string(pages + 2));
            tx.exec("INSERT INTO t (k, s) VALUES ('big', $1)", {std::string(1 << 20, 'x')});
        } else {
            tx.exec("DO $$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = 'disk_full'; END $$");
        }
        return {};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::insufficient_storage) << st.error().message;
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, ReadTransactionSeesCommittedData) {
    ASSERT_TRUE(db().transact(TxMode::write,
                              [](Tx& tx) -> Status {
                                  tx.exec("INSERT INTO t (k, n) VALUES ('a', 1)");
                                  return {};
                              })
                    .ok());
    auto r = db().transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT n FROM t WHERE k = 'a'")->i64(0);
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
}

TEST_P(DatabaseTest, ConcurrentWritersAllCommit) {
    constexpr int kThreads = 8, kEach = 25;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                Status st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
                    tx.exec("INSERT INTO t (k, n) VALUES ($1, $2)",
                            {std::to_string(t) + "-" + std::to_string(i), std::int64_t{i}});
                    tx.query("SELECT COUNT(*) FROM t");
                    return {};
                });
                if (!st.ok()) ++failures;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(count_rows(), kThreads * kEach);
}

TEST_P(DatabaseTest, UsableAfterClose) {
    db().close();
    EXPECT_EQ(count_rows(), 0);
}

TEST_P(DatabaseTest, ReconnectsAfterTheServerDropsTheConnection) {
    if (dialect() != Dialect::postgres) GTEST_SKIP() << "PostgreSQL only";
    auto pid = db().transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT pg_backend_pid()")->i64(0);
    });
    ASSERT_TRUE(pid.ok());
    // Kill that (now idle, pooled) backend from another handle.
    auto other = sql::open_database(test_db().options());
    ASSERT_TRUE(other.ok());
    Status killed = (*other)->transact(TxMode::write, [&](Tx& tx) -> Status {
        tx.query("SELECT pg_terminate_backend($1::int)", {*pid});
        return {};
    });
    ASSERT_TRUE(killed.ok());
    (*other)->close();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

    auto again = db().transact<std::int64_t>(TxMode::read, [](Tx& tx) -> Result<std::int64_t> {
        return tx.query_one("SELECT pg_backend_pid()")->i64(0);
    });
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_NE(*again, *pid);
}

TEST_P(DatabaseTest, RetriesOnceWhenTheConnectionBreaksMidTransaction) {
    if (dialect() != Dialect::postgres) GTEST_SKIP() << "PostgreSQL only";
    int calls = 0;
    auto r = db().transact<int>(TxMode::write, [&](Tx& tx) -> Result<int> {
        ++calls;
        tx.exec("INSERT INTO t (k) VALUES ($1)", {std::string("a")});
        if (calls == 1) tx.query("SELECT pg_terminate_backend(pg_backend_pid())");
        return calls;
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, 2);
    EXPECT_EQ(count_rows(), 1);

    calls = 0;
    Status st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        ++calls;
        tx.query("SELECT pg_terminate_backend(pg_backend_pid())");
        return {};
    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::unavailable);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(count_rows(), 1);
}

TEST_P(DatabaseTest, ReadTransactionsRefuseWritesOnPostgres) {
    if (dialect() != Dialect::postgres) GTEST_SKIP() << "PostgreSQL only";
    Status st = db().transact(TxMode::read, [](Tx& tx) -> Status {
        tx.exec("INSERT INTO t (k) VALUES ('a')");
        return {};
    });
    EXPECT_FALSE(st.ok());
}

SILO_INSTANTIATE_DIALECTS(DatabaseTest);

// Row accessors on hand-made rows (PostgreSQL hands some columns over as text).
TEST(RowTest, ParsesTextForms) {
    sql::Row r({std::string("42"), std::string("-7"), std::string("2.5"), std::string("t"),
                std::string("x1"), std::int64_t{5}, 3.0, nullptr});
    EXPECT_EQ(r.i64(0), 42);
    EXPECT_EQ(r.i64(1), -7);
    EXPECT_DOUBLE_EQ(r.f64(2), 2.5);
    EXPECT_TRUE(r.boolean(3));
    EXPECT_THROW(r.i64(4), sql::DbError);
    EXPECT_THROW(r.i64(2), sql::DbError);
    EXPECT_EQ(r.str(5), "5");
    EXPECT_DOUBLE_EQ(r.f64(5), 5.0);
    EXPECT_EQ(r.i64(6), 3);
    EXPECT_THROW(r.str(7), sql::DbError);
    EXPECT_THROW(r.i64(7), sql::DbError);
    EXPECT_FALSE(r.opt_i64(7).has_value());
    EXPECT_EQ(r.opt_i64(0), 42);
    EXPECT_THROW(r.is_null(8), std::out_of_range);
}

TEST(OpenDatabaseTest, CreatesParentDirectories) {
    const auto dir = std::filesystem::temp_directory_path() / ("silo-open-" + random_hex(6));
    sql::DatabaseOptions o;
    o.sqlite_path = (dir / "a" / "b" / "silo.db").string();
    {
        auto db = sql::open_database(o);
        ASSERT_TRUE(db.ok()) << db.error().message;
        EXPECT_TRUE(std::filesystem::exists(o.sqlite_path));
    }
    std::filesystem::remove_all(dir);
}

TEST(OpenDatabaseTest, UnreachablePostgresFailsCleanly) {
    sql::DatabaseOptions o;
    o.dialect = Dialect::postgres;
    o.postgres_url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
    auto db = sql::open_database(o);
    EXPECT_FALSE(db.ok());
}

}  // namespace
}  // namespace silo
