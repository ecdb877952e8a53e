// Throwaway databases for tests, and the fixture that runs a contract test on both dialects.
//
// PostgreSQL comes from the cluster named by env SILO_TEST_PG_URL (an admin URL, e.g. the one
// scripts/pg-test-cluster.sh writes to DIR/url); every test database is a fresh
// CREATE DATABASE silo_t_<random> in it, dropped again when the handle is destroyed. Without
// SILO_TEST_PG_URL the PostgreSQL instances skip, unless SILO_TEST_REQUIRE_PG=1, when they fail.
//
// Usage:
//   class ItemsTest : public silo::test::DialectTest {};
//   TEST_P(ItemsTest, Something) { auto st = db().transact(...); }
//   SILO_INSTANTIATE_DIALECTS(ItemsTest);
// A fixture that overrides SetUp calls DialectTest::SetUp() first and returns when
// IsSkipped() || HasFatalFailure().
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "storage/sql.hpp"

namespace silo::test {

// True when env SILO_TEST_PG_URL is set and not empty.
bool postgres_available();
// True when env SILO_TEST_REQUIRE_PG is "1": PostgreSQL tests fail instead of skipping.
bool postgres_required();
// Why tests of this dialect cannot run here (nullopt when they can).
std::optional<std::string> unavailable_reason(sql::Dialect dialect);

// "sqlite" / "postgres".
std::string dialect_name(sql::Dialect dialect);

// A Database that owns a throwaway database and removes it (SQLite: its temp dir;
// PostgreSQL: DROP DATABASE ... WITH (FORCE)) on destruction, after closing its connections.
class TestDatabase final : public sql::Database {
  public:
    TestDatabase(std::unique_ptr<sql::Database> inner, sql::DatabaseOptions options,
                 std::function<void()> cleanup);
    ~TestDatabase() override;

    // What open_database() needs to open another handle on the same database (e.g. a second
    // "server instance").
    const sql::DatabaseOptions& options() const { return options_; }

    sql::Dialect dialect() const override { return inner_->dialect(); }
    Status migrate() override { return inner_->migrate(); }
    void close() override { inner_->close(); }

  protected:
    Status run(sql::TxMode mode, const std::function<Status(sql::Tx&)>& fn) override {
        return inner_->transact(mode, fn);
    }

  private:
    std::unique_ptr<sql::Database> inner_;
    sql::DatabaseOptions options_;
    std::function<void()> cleanup_;
};

// A fresh, private database of that dialect, migrated when migrate is true. Throws
// std::runtime_error when it cannot be created (e.g. PostgreSQL tests without
// SILO_TEST_PG_URL: check unavailable_reason first).
std::unique_ptr<TestDatabase> open_test_database(sql::Dialect dialect, bool migrate = true);

// The same, as the plain interface.
std::unique_ptr<sql::Database> make_test_database(sql::Dialect dialect);

// Parameterised fixture: GetParam() is the dialect, db() a fresh migrated database of it.
class DialectTest : public ::testing::TestWithParam<sql::Dialect> {
  protected:
    void SetUp() override;
    void TearDown() override;
    sql::Database& db() { return *db_; }
    TestDatabase& test_db() { return *db_; }
    sql::Dialect dialect() const { return GetParam(); }

    std::unique_ptr<TestDatabase> db_;
};

// Test name suffix: "/sqlite", "/postgres".
struct DialectParamName {
    std::string operator()(const ::testing::TestParamInfo<sql::Dialect>& info) const {
        return dialect_name(info.param);
    }
};

}  // namespace silo::test

namespace silo::sql {
// Lets GoogleTest print a Dialect parameter by name.
inline void PrintTo(Dialect dialect, std::ostream* os) { *os << test::dialect_name(dialect); }
}  // namespace silo::sql

// Runs every TEST_P of Fixture once per dialect.
#define SILO_INSTANTIATE_DIALECTS(Fixture)                                               \
    INSTANTIATE_TEST_SUITE_P(                                                            \
        Dialects, Fixture,                                                               \
        ::testing::Values(::silo::sql::Dialect::sqlite, ::silo::sql::Dialect::postgres), \
        ::silo::test::DialectParamName{})

// In a test body or SetUp: skips (or, with SILO_TEST_REQUIRE_PG=1, fails) when the dialect
// cannot be tested here.
#define SILO_REQUIRE_DIALECT(dialect)                                    \
    do {                                                                 \
        if (auto silo_why = ::silo::test::unavailable_reason(dialect)) { \
            if (::silo::test::postgres_required()) FAIL() << *silo_why;  \
            GTEST_SKIP() << *silo_why;                                   \
        }                                                                \
    } while (0)
