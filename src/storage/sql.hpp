// The minimal SQL seam every repository is written against. Two drivers implement it:
// sqlite/ (SQLiteCpp, the embedded default) and postgres/ (libpqxx 6.4).
//
// SQL text uses PostgreSQL-style positional placeholders ($1, $2, ...) in both dialects; the
// SQLite driver rewrites them to ?1, ?2. Where the dialects differ, the repository picks the
// statement by Database::dialect(); migrations live beside each driver.
//
// Conventions of the schema: timestamps are BIGINT milliseconds since the epoch (UTC),
// booleans are INTEGER 0/1, ids are UUID text, JSON documents are TEXT.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace silo::sql {

enum class Dialect { sqlite, postgres };

// A parameter or a column value.
using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using Params = std::vector<Value>;

inline Value null() { return nullptr; }
inline Value opt(const std::optional<std::string>& s) {
    return s ? Value(*s) : Value(nullptr);
}

// One result row. Accessors throw DbError on a type mismatch (a programming error that the
// transaction boundary turns into Errc::internal).
class Row {
public:
    explicit Row(std::vector<Value> cols) : cols_(std::move(cols)) {}
    size_t size() const { return cols_.size(); }
    bool is_null(size_t i) const;
    std::int64_t i64(size_t i) const;  // integer column (PostgreSQL text forms are parsed)
    double f64(size_t i) const;
    std::string str(size_t i) const;   // text column; integers are formatted
    std::optional<std::string> opt_str(size_t i) const;
    std::optional<std::int64_t> opt_i64(size_t i) const;
    bool boolean(size_t i) const { return i64(i) != 0; }
    const Value& raw(size_t i) const { return cols_.at(i); }

private:
    std::vector<Value> cols_;
};

using Rows = std::vector<Row>;

// Thrown by drivers. The transaction boundary (Database::transact) catches every exception:
// unique_violation -> Errc::conflict, busy/serialization -> retried, invalid_text ->
// Errc::bad_request, others -> Errc::internal.
class DbError : public std::runtime_error {
public:
    // invalid_text: a text parameter holds a NUL byte or is not valid UTF-8. Both drivers
    // refuse it before the statement runs, so that neither stores it cut or altered (libpq
    // ends text at NUL; SQLite would keep it). The HTTP layer refuses such text first
    // (core/strings.hpp text_problem); this is the backstop.
    // storage_full: the disk under the database is full (SQLite SQLITE_FULL, PostgreSQL 53100).
    enum class Kind { unique_violation, retryable, broken_connection, invalid_text, storage_full, other };
    DbError(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
    Kind kind;
};

// An open transaction. Not thread-safe; lives only inside Database::transact.
class Tx {
public:
    virtual ~Tx() = default;
    virtual Dialect dialect() const = 0;
    // Runs a statement and returns its rows (empty for statements without a result).
    virtual Rows query(std::string_view sql, const Params& params = {}) = 0;
    // Runs a statement and returns the number of rows it changed.
    virtual std::int64_t exec(std::string_view sql, const Params& params = {}) = 0;

    // The first row, if any.
    std::optional<Row> query_one(std::string_view sql, const Params& params = {}) {
        auto rows = query(sql, params);
        if (rows.empty()) return std::nullopt;
        return std::move(rows.front());
    }
};

// Runs `statement_prefix ($k, $k+1, ...)` over `values` in batches, where statement_prefix
// ends in "IN" and uses $1..$n for `leading` (e.g. "UPDATE t SET x = $1 WHERE id IN").
void exec_in_batches(Tx& tx, const std::string& statement_prefix, const Params& leading,
                     const std::vector<std::string>& values, std::size_t batch = 200);

// A WHERE clause built from optional filters: " WHERE 1=1 AND a = $1 AND b >= $2", with the
// parameters in order. Filters whose value is an empty string are left out.
struct Where {
    std::string sql = " WHERE 1=1";
    Params params;
    Where& add(const char* column, Value value, const char* op = "=") {
        if (auto* s = std::get_if<std::string>(&value); s && s->empty()) return *this;
        params.push_back(std::move(value));
        sql += std::string(" AND ") + column + " " + op + " $" + std::to_string(params.size());
        return *this;
    }
    // " LIMIT $n OFFSET $n+1", with both values appended to a copy of the parameters.
    std::string page(Params& out, std::int64_t limit, std::int64_t offset) const {
        out = params;
        out.push_back(limit);
        out.push_back(offset);
        return " LIMIT $" + std::to_string(out.size() - 1) + " OFFSET $" + std::to_string(out.size());
    }
};

// read: one consistent snapshot, no writes (PostgreSQL runs it REPEATABLE READ READ ONLY, so a
// write fails there; SQLite uses a deferred BEGIN). write: SQLite BEGIN IMMEDIATE (writers
// queue), PostgreSQL READ COMMITTED. lookup: reads that need no snapshot shared between their
// statements (a token check, one page of the event log): PostgreSQL runs each statement on
// its own, saving the BEGIN / SET TRANSACTION / COMMIT round trips; SQLite runs each in
// autocommit mode.
enum class TxMode { read, write, lookup };

// A database: a pool of connections (one per concurrently running caller, opened lazily),
// each used by one thread at a time. Thread-safe.
class Database {
public:
    virtual ~Database() = default;
    virtual Dialect dialect() const = 0;

    // Applies the compiled-in migrations of this dialect that are not applied yet (serialised
    // across processes on PostgreSQL by an advisory lock).
    virtual Status migrate() = 0;

    // Runs fn inside one transaction on a pooled connection. Commits when fn returns ok, rolls
    // back when it returns an error or throws. Busy / serialization failures are retried a
    // bounded number of times (fn must be safe to run again). Exceptions become an Error:
    // unique violations Errc::conflict, everything else Errc::internal (logged, never echoed);
    // still busy after the retries, or the server unreachable even on a fresh connection (one
    // retry): Errc::unavailable.
    template <class T>
    Result<T> transact(TxMode mode, const std::function<Result<T>(Tx&)>& fn) {
        std::optional<Result<T>> out;
        Status st = run(mode, [&](Tx& tx) -> Status {
            out.emplace(fn(tx));
            if (!out->ok()) return out->error();
            return {};
        });
        if (!st.ok()) return std::move(st).error();
        return std::move(*out);
    }
    Status transact(TxMode mode, const std::function<Status(Tx&)>& fn) { return run(mode, fn); }

    // Closes pooled connections (used at shutdown and in tests).
    virtual void close() = 0;

protected:
    virtual Status run(TxMode mode, const std::function<Status(Tx&)>& fn) = 0;
};

// One versioned schema change, compiled in. Each dialect's list lives beside its driver
// (sqlite/migrations.cpp, postgres/migrations.cpp), ordered by strictly increasing version; an
// entry may hold several statements. Applied versions are recorded in schema_migrations.
// Never edit a released entry: append a new version instead.
struct Migration {
    int version;
    const char* sql;
};
const std::vector<Migration>& migrations(Dialect dialect);

struct DatabaseOptions {
    Dialect dialect = Dialect::sqlite;
    std::string sqlite_path;   // file path; parent directories are created
    std::string postgres_url;  // libpq connection URI
};

// Opens (and for SQLite creates) the database. Does not migrate.
Result<std::unique_ptr<Database>> open_database(const DatabaseOptions& options);

}  // namespace silo::sql
