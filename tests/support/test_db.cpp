#include "support/test_db.hpp"

#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <stdexcept>

#include "core/ids.hpp"

namespace silo::test {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// The admin URL with its database name replaced by dbname. Handles URIs
// (postgresql://user@host:port/db?opts) and key=value connection strings.
std::string with_database(const std::string& admin, const std::string& dbname) {
    const auto scheme = admin.find("://");
    if (scheme == std::string::npos) return admin + " dbname=" + dbname;
    const auto authority = scheme + 3;
    const auto query = admin.find('?', authority);
    const auto path = admin.find('/', authority);
    std::string base, rest;
    if (path != std::string::npos && (query == std::string::npos || path < query)) {
        base = admin.substr(0, path);
        rest = query == std::string::npos ? "" : admin.substr(query);
    } else {
        base = admin.substr(0, query);
        rest = query == std::string::npos ? "" : admin.substr(query);
    }
    return base + "/" + dbname + rest;
}

std::unique_ptr<sql::Database> open_or_throw(const sql::DatabaseOptions& options) {
    auto db = sql::open_database(options);
    if (!db.ok()) throw std::runtime_error("open_database failed: " + db.error().message);
    return std::move(db).value();
}

}  // namespace

bool postgres_available() { return !env("SILO_TEST_PG_URL").empty(); }

bool postgres_required() { return env("SILO_TEST_REQUIRE_PG") == "1"; }

std::optional<std::string> unavailable_reason(sql::Dialect dialect) {
    if (dialect == sql::Dialect::postgres && !postgres_available())
        return std::string(
            "PostgreSQL tests need SILO_TEST_PG_URL (see scripts/pg-test-cluster.sh)");
    return std::nullopt;
}

std::string dialect_name(sql::Dialect dialect) {
    return dialect == sql::Dialect::postgres ? "postgres" : "sqlite";
}

TestDatabase::TestDatabase(std::unique_ptr<sql::Database> inner, sql::DatabaseOptions options,
                           std::function<void()> cleanup)
    : inner_(std::move(inner)), options_(std::move(options)), cleanup_(std::move(cleanup)) {}

TestDatabase::~TestDatabase() {
    inner_->close();
    inner_.reset();
    if (cleanup_) cleanup_();
}

std::unique_ptr<TestDatabase> open_test_database(sql::Dialect dialect, bool migrate) {
    const std::string suffix = random_hex(8);
    sql::DatabaseOptions options;
    options.dialect = dialect;
    std::function<void()> cleanup;
    if (dialect == sql::Dialect::sqlite) {
        const auto dir = std::filesystem::temp_directory_path() / ("silo-test-" + suffix);
        // A nested path: opening must create the parent directories itself.
        options.sqlite_path = (dir / "db" / "silo.db").string();
        cleanup = [dir] {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        };
    } else {
        const std::string admin = env("SILO_TEST_PG_URL");
        if (admin.empty()) throw std::runtime_error("SILO_TEST_PG_URL is not set");
        const std::string name = "silo_t_" + suffix;
        {
            pqxx::connection c(admin);
            pqxx::nontransaction n(c);
            n.exec("CREATE DATABASE " + name);
        }
        options.postgres_url = with_database(admin, name);
        cleanup = [admin, name] {
            try {
                pqxx::connection c(admin);
                pqxx::nontransaction n(c);
                n.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            } catch (const std::exception&) {
                // Best effort: the cluster is throwaway.
            }
        };
    }
    std::unique_ptr<sql::Database> inner;
    try {
        inner = open_or_throw(options);
    } catch (...) {
        cleanup();
        throw;
    }
    auto db = std::make_unique<TestDatabase>(std::move(inner), options, std::move(cleanup));
    if (migrate) {
        Status st = db->migrate();
        if (!st.ok()) throw std::runtime_error("migrate failed: " + st.error().message);
    }
    return db;
}

std::unique_ptr<sql::Database> make_test_database(sql::Dialect dialect) {
    return open_test_database(dialect, true);
}

void DialectTest::SetUp() {
    SILO_REQUIRE_DIALECT(GetParam());
    try {
        db_ = open_test_database(GetParam());
    } catch (const std::exception& e) {
        FAIL() << "cannot create a " << dialect_name(GetParam()) << " test database: " << e.what();
    }
}

void DialectTest::TearDown() { db_.reset(); }

}  // namespace silo::test
