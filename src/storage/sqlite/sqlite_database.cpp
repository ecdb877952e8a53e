#include "storage/sqlite/sqlite_database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_map>

#include "storage/driver_support.hpp"

namespace silo::sql {

namespace {

constexpr size_t kStatementCacheLimit = 512;

bool is_ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

// $N -> ?N outside string literals, quoted identifiers and comments.
std::string rewrite_placeholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size());
    size_t i = 0;
    auto copy_until = [&](size_t end) {  // copies sql[i, end) and moves i there
        end = std::min(end, sql.size());
        out.append(sql.substr(i, end - i));
        i = end;
    };
    while (i < sql.size()) {
        const char c = sql[i];
        const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            const char close = c == '[' ? ']' : c;
            size_t end = sql.find(close, i + 1);  // a doubled quote closes and reopens: fine
            copy_until(end == std::string_view::npos ? sql.size() : end + 1);
        } else if (c == '-' && next == '-') {
            size_t end = sql.find('\n', i);
            copy_until(end == std::string_view::npos ? sql.size() : end + 1);
        } else if (c == '/' && next == '*') {
            size_t end = sql.find("*/", i + 2);
            copy_until(end == std::string_view::npos ? sql.size() : end + 2);
        } else if (c == '$' && next >= '0' && next <= '9' &&
                   (i == 0 || !is_ident_char(sql[i - 1]))) {
            out.push_back('?');
            ++i;
        } else {
            out.push_back(c);
            ++i;
        }
    }
    return out;
}

std::string excerpt(std::string_view sql) {
    constexpr size_t kMax = 200;
    if (sql.size() <= kMax) return std::string(sql);
    return std::string(sql.substr(0, kMax)) + "...";
}

DbError translate(const SQLite::Exception& e, std::string_view sql) {
    const int ext = e.getExtendedErrorCode();
    const int primary = e.getErrorCode() & 0xff;
    DbError::Kind kind = DbError::Kind::other;
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        kind = DbError::Kind::unique_violation;
    else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        kind = DbError::Kind::retryable;
    else if (primary == SQLITE_FULL)
        kind = DbError::Kind::storage_full;
    return DbError(kind, fmt::format("sqlite error {}/{}: {} [{}]", e.getErrorCode(), ext, e.what(),
                                     excerpt(sql)));
}

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

constexpr std::chrono::milliseconds kBusyTimeout{10000};

struct SqliteDatabase::Connection {
    explicit Connection(const std::string& path)
        : db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX) {
        db.setBusyTimeout(static_cast<int>(kBusyTimeout.count()));
        db.exec("PRAGMA journal_mode=WAL");
        db.exec("PRAGMA foreign_keys=ON");
        db.exec("PRAGMA synchronous=NORMAL");
    }

    // The cached prepared statement for sql (written with $N placeholders).
    SQLite::Statement& prepare(std::string_view sql) {
        if (auto it = statements.find(sql); it != statements.end()) return *it->second;
        if (statements.size() >= kStatementCacheLimit) statements.clear();
        auto stmt = std::make_unique<SQLite::Statement>(db, rewrite_placeholders(sql));
        return *statements.emplace(std::string(sql), std::move(stmt)).first->second;
    }

    SQLite::Database db;
    std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>, StringHash, std::equal_to<>>
        statements;
};

namespace {

// Resets a cached statement on entry and exit, so that it holds no stale bindings and no
// read snapshot once the call is over.
class StatementUse {
  public:
    explicit StatementUse(SQLite::Statement& s) : s_(s) {
        s_.tryReset();
        s_.clearBindings();
    }
    ~StatementUse() { s_.tryReset(); }
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;

  private:
    SQLite::Statement& s_;
};

void bind_all(SQLite::Statement& stmt, const Params& params) {
    detail::check_text_params(params);
    for (size_t i = 0; i < params.size(); ++i) {
        const int index = static_cast<int>(i + 1);
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::nullptr_t>)
                    stmt.bind(index);
                else if constexpr (std::is_same_v<T, std::int64_t>)
                    stmt.bind(index, static_cast<int64_t>(v));
                else if constexpr (std::is_same_v<T, double>)
                    stmt.bind(index, v);
                else
                    stmt.bind(index, v);  // std::string, copied by SQLite
            },
            params[i]);
    }
}

Row read_row(const SQLite::Statement& stmt) {
    const int n = stmt.getColumnCount();
    std::vector<Value> cols;
    cols.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        SQLite::Column col = stmt.getColumn(i);
        switch (col.getType()) {
            case SQLITE_INTEGER:
                cols.emplace_back(std::int64_t{col.getInt64()});
                break;
            case SQLITE_FLOAT:
                cols.emplace_back(col.getDouble());
                break;
            case SQLITE_NULL:
                cols.emplace_back(nullptr);
                break;
            default:  // TEXT, BLOB
                cols.emplace_back(col.getString());
                break;
        }
    }
    return Row(std::move(cols));
}

class SqliteTx final : public Tx {
  public:
    explicit SqliteTx(SqliteDatabase::Connection& c) : c_(c) {}

    Dialect dialect() const override { return Dialect::sqlite; }

    Rows query(std::string_view sql, const Params& params) override {
        try {
            SQLite::Statement& stmt = c_.prepare(sql);
            StatementUse use(stmt);
            bind_all(stmt, params);
            Rows rows;
            while (stmt.executeStep()) rows.push_back(read_row(stmt));
            return rows;
        } catch (const SQLite::Exception& e) {
            throw translate(e, sql);
        }
    }

    std::int64_t exec(std::string_view sql, const Params& params) override {
        try {
            sqlite3* h = c_.db.getHandle();
            SQLite::Statement& stmt = c_.prepare(sql);
            StatementUse use(stmt);
            bind_all(stmt, params);
            const auto before = sqlite3_total_changes64(h);
            while (stmt.executeStep()) {
            }
            // sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE even across
            // other statements; only trust it when this statement changed something.
            return sqlite3_total_changes64(h) == before ? 0 : sqlite3_changes64(h);
        } catch (const SQLite::Exception& e) {
            throw translate(e, sql);
        }
    }

    // Runs a text of several statements without parameters (migrations).
    void script(const char* sql) {
        try {
            c_.db.exec(sql);
        } catch (const SQLite::Exception& e) {
            throw translate(e, sql);
        }
    }

  private:
    SqliteDatabase::Connection& c_;
};

// Rolls back an open transaction; false when the connection is no longer trustworthy.
bool rollback(SqliteDatabase::Connection& c) noexcept {
    if (sqlite3_get_autocommit(c.db.getHandle())) return true;  // nothing open
    if (c.db.tryExec("ROLLBACK") == SQLITE_OK) return true;
    spdlog::warn("sqlite: ROLLBACK failed: {}", c.db.getErrorMsg());
    return false;
}

}  // namespace

// Hands a pooled connection back on destruction unless discarded.
class SqliteDatabase::Lease {
  public:
    explicit Lease(SqliteDatabase& db) : db_(db), conn_(db.acquire(generation_)) {}
    ~Lease() {
        if (conn_) db_.release(std::move(conn_), generation_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *conn_; }
    void discard() { conn_.reset(); }

  private:
    SqliteDatabase& db_;
    std::uint64_t generation_ = 0;
    std::unique_ptr<Connection> conn_;
};

Result<std::unique_ptr<SqliteDatabase>> SqliteDatabase::open(const std::string& path) {
    if (path.empty()) return Error{Errc::internal, "sqlite: empty database path"};
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        std::filesystem::create_directories(parent, ec);
        if (ec)
            return Error{Errc::internal, fmt::format("cannot create directory {}: {}",
                                                     parent.string(), ec.message())};
    }
    std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(path));
    try {
        std::uint64_t generation = 0;
        db->release(db->acquire(generation), generation);
    } catch (const std::exception& e) {
        return Error{Errc::internal,
                     fmt::format("cannot open SQLite database {}: {}", path, e.what())};
    }
    return db;
}

SqliteDatabase::SqliteDatabase(std::string path) : path_(std::move(path)) {}
SqliteDatabase::~SqliteDatabase() = default;

std::unique_ptr<SqliteDatabase::Connection> SqliteDatabase::acquire(std::uint64_t& generation) {
    {
        std::lock_guard lock(mu_);
        generation = generation_;
        if (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            return conn;
        }
    }
    try {
        return std::make_unique<Connection>(path_);  // opened outside the lock
    } catch (const SQLite::Exception& e) {
        throw translate(e, "open " + path_);
    }
}

void SqliteDatabase::release(std::unique_ptr<Connection> conn, std::uint64_t generation) {
    std::lock_guard lock(mu_);
    if (generation == generation_) idle_.push_back(std::move(conn));
    // else: close() ran meanwhile; conn is destroyed (closed) here.
}

void SqliteDatabase::close() {
    std::vector<std::unique_ptr<Connection>> closing;
    {
        std::lock_guard lock(mu_);
        closing.swap(idle_);
        ++generation_;
    }
}  // connections close here, outside the lock

Status SqliteDatabase::attempt(TxMode mode, const std::function<Status(Tx&)>& fn) {
    std::unique_lock writer(writer_, std::defer_lock);
    if (mode == TxMode::write && !writer.try_lock_for(kBusyTimeout))
        throw DbError(DbError::Kind::retryable, "sqlite: another write transaction of this process held the lock for 10 s");
    Lease lease(*this);
    Connection& c = *lease;
    // A lookup runs each statement in SQLite's autocommit mode: its own implicit read
    // transaction, without the BEGIN and COMMIT steps.
    const bool explicit_tx = mode != TxMode::lookup;
    const char* begin = mode == TxMode::write ? "BEGIN IMMEDIATE" : "BEGIN";
    if (explicit_tx) {
        try {
            c.db.exec(begin);
        } catch (const SQLite::Exception& e) {
            throw translate(e, begin);
        }
    }
    try {
        SqliteTx tx(c);
        Status st = fn(tx);
        if (!st.ok()) {
            if (!rollback(c)) lease.discard();
        } else if (explicit_tx) {
            c.db.exec("COMMIT");
        }
        return st;
    } catch (const SQLite::Exception& e) {
        if (!rollback(c)) lease.discard();
        throw translate(e, "COMMIT");
    } catch (...) {
        if (!rollback(c)) lease.discard();
        throw;
    }
}

Status SqliteDatabase::run(TxMode mode, const std::function<Status(Tx&)>& fn) {
    return detail::run_with_policy("sqlite", [&] { return attempt(mode, fn); });
}

Status SqliteDatabase::migrate() {
    auto script_of = [](Tx& tx) {
        return [&tx](const char* sql) { static_cast<SqliteTx&>(tx).script(sql); };
    };
    SILO_CHECK(run(TxMode::write, [&](Tx& tx) -> Status {
        script_of(tx)(detail::kCreateSchemaMigrations);
        detail::warn_about_unknown_versions(tx, Dialect::sqlite);
        return {};
    }));
    // One transaction per version; BEGIN IMMEDIATE serialises concurrent migrators, and the
    // version check inside the transaction makes a second run a no-op.
    for (const Migration& m : migrations(Dialect::sqlite)) {
        SILO_CHECK(run(TxMode::write, [&](Tx& tx) -> Status {
            detail::apply_migration(tx, m, script_of(tx));
            return {};
        }));
    }
    return {};
}

}  // namespace silo::sql
