#include "storage/postgres/postgres_database.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <optional>
#include <pqxx/pqxx>

#include "storage/driver_support.hpp"

namespace silo::sql {

namespace {

// Result column type OIDs (pg_type) that are handed over typed.
constexpr pqxx::oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
                    kFloat8 = 701;

std::string excerpt(std::string_view sql) {
    constexpr size_t kMax = 200;
    if (sql.size() <= kMax) return std::string(sql);
    return std::string(sql.substr(0, kMax)) + "...";
}

// Called inside a catch block: rethrows a libpqxx exception as DbError; DbError and
// exceptions that are not libpqxx's propagate unchanged.
[[noreturn]] void rethrow_translated(std::string_view sql) {
    auto fail = [&](DbError::Kind kind, const char* what) -> DbError {
        return DbError(kind, fmt::format("postgres: {} [{}]", what, excerpt(sql)));
    };
    try {
        throw;
    } catch (const DbError&) {
        throw;
    } catch (const pqxx::broken_connection& e) {
        throw fail(DbError::Kind::broken_connection, e.what());
    } catch (const pqxx::serialization_failure& e) {
        throw fail(DbError::Kind::retryable, e.what());
    } catch (const pqxx::deadlock_detected& e) {
        throw fail(DbError::Kind::retryable, e.what());
    } catch (const pqxx::sql_error& e) {
        const std::string& state = e.sqlstate();
        if (state == "23505") throw fail(DbError::Kind::unique_violation, e.what());
        if (state == "40001" || state == "40P01") throw fail(DbError::Kind::retryable, e.what());
        // invalid byte sequence / untranslatable character: text the database cannot keep.
        if (state == "22021" || state == "22P05") throw fail(DbError::Kind::invalid_text, e.what());
        if (state == "53100") throw fail(DbError::Kind::storage_full, e.what());  // disk_full
        throw fail(DbError::Kind::other, e.what());
    } catch (const pqxx::in_doubt_error& e) {
        // The commit may or may not have happened: never attempt again.
        throw fail(DbError::Kind::other, e.what());
    } catch (const pqxx::pqxx_exception& e) {
        throw fail(DbError::Kind::other, e.base().what());
    }
}

bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

// True when the statement's main verb only reads (SELECT, VALUES, TABLE, SHOW, EXPLAIN),
// looking past a WITH clause: the words at parenthesis depth 0, outside literals and comments.
bool is_query(std::string_view sql) {
    int depth = 0;
    bool after_with = false;
    size_t i = 0;
    while (i < sql.size()) {
        const char c = sql[i];
        const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
        if (c == '\'' || c == '"') {
            const size_t end = sql.find(c, i + 1);
            i = end == std::string_view::npos ? sql.size() : end + 1;
        } else if (c == '-' && next == '-') {
            const size_t end = sql.find('\n', i);
            i = end == std::string_view::npos ? sql.size() : end + 1;
        } else if (c == '/' && next == '*') {
            const size_t end = sql.find("*/", i + 2);
            i = end == std::string_view::npos ? sql.size() : end + 2;
        } else if (c == '(') {
            ++depth;
            ++i;
        } else if (c == ')') {
            --depth;
            ++i;
        } else if (is_word_char(c)) {
            size_t end = i;
            while (end < sql.size() && is_word_char(sql[end])) ++end;
            std::string word(sql.substr(i, end - i));
            for (auto& ch : word)
                if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
            i = end;
            if (depth > 0) continue;
            if (word == "WITH" && !after_with) {
                after_with = true;
                continue;
            }
            if (word == "SELECT" || word == "VALUES" || word == "TABLE" || word == "SHOW" ||
                word == "EXPLAIN")
                return true;
            if (word == "INSERT" || word == "UPDATE" || word == "DELETE" || word == "MERGE")
                return false;
            if (!after_with) return false;  // any other statement
        } else {
            ++i;
        }
    }
    return false;
}

std::vector<std::optional<std::string>> to_text(const Params& params) {
    std::vector<std::optional<std::string>> out;
    out.reserve(params.size());
    for (const Value& v : params) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::nullptr_t>)
                    out.emplace_back(std::nullopt);
                else if constexpr (std::is_same_v<T, std::int64_t>)
                    out.emplace_back(std::to_string(x));
                else if constexpr (std::is_same_v<T, double>)
                    out.emplace_back(fmt::format("{}", x));  // shortest exact form
                else
                    out.emplace_back(x);
            },
            v);
    }
    return out;
}

Value to_value(const pqxx::field& f, pqxx::oid type) {
    if (f.is_null()) return nullptr;
    const char* s = f.c_str();
    const size_t n = f.size();
    switch (type) {
        case kInt2:
        case kInt4:
        case kInt8:
        case kOid: {
            std::int64_t v = 0;
            auto [p, ec] = std::from_chars(s, s + n, v);
            if (ec == std::errc() && p == s + n) return v;
            break;
        }
        case kFloat4:
        case kFloat8: {
            char* end = nullptr;
            double v = std::strtod(s, &end);  // also reads NaN, Infinity
            if (end == s + n) return v;
            break;
        }
        case kBool:
            return std::int64_t{n > 0 && s[0] == 't' ? 1 : 0};
        default:
            break;
    }
    return std::string(s, n);
}

Rows to_rows(const pqxx::result& r) {
    const auto ncols = r.columns();
    std::vector<pqxx::oid> types(ncols);
    for (pqxx::row::size_type c = 0; c < ncols; ++c) types[c] = r.column_type(c);
    Rows rows;
    rows.reserve(r.size());
    for (const auto& row : r) {
        std::vector<Value> cols;
        cols.reserve(ncols);
        for (pqxx::row::size_type c = 0; c < ncols; ++c) cols.push_back(to_value(row[c], types[c]));
        rows.emplace_back(std::move(cols));
    }
    return rows;
}

class PgTx final : public Tx {
  public:
    explicit PgTx(pqxx::transaction_base& w) : w_(w) {}

    Dialect dialect() const override { return Dialect::postgres; }

    Rows query(std::string_view sql, const Params& params) override {
        try {
            return to_rows(run(sql, params));
        } catch (...) {
            rethrow_translated(sql);
        }
    }

    std::int64_t exec(std::string_view sql, const Params& params) override {
        try {
            const pqxx::result r = run(sql, params);
            // libpq reports a query's row count as "affected"; only changes count here.
            if (r.columns() > 0 && is_query(sql)) return 0;
            return static_cast<std::int64_t>(r.affected_rows());
        } catch (...) {
            rethrow_translated(sql);
        }
    }

    // Runs a text of several statements without parameters (migrations).
    void script(const char* sql) {
        try {
            w_.exec(sql);
        } catch (...) {
            rethrow_translated(sql);
        }
    }

  private:
    pqxx::result run(std::string_view sql, const Params& params) {
        detail::check_text_params(params);
        const auto text = to_text(params);
        return w_.exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(text));
    }

    pqxx::transaction_base& w_;
};

// Server notices ("relation ... already exists, skipping") go to the debug log, not stderr.
class NoticeLogger final : public pqxx::errorhandler {
  public:
    explicit NoticeLogger(pqxx::connection_base& c) : pqxx::errorhandler(c) {}
    bool operator()(const char msg[]) noexcept override {
        try {
            std::string_view m(msg);
            while (!m.empty() && m.back() == '\n') m.remove_suffix(1);
            spdlog::debug("postgres: {}", m);
        } catch (...) {
        }
        return false;
    }
};

using ReadTransaction = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
using WriteTransaction = pqxx::work;

}  // namespace

struct PostgresDatabase::Connection {
    explicit Connection(const std::string& url) : conn(url), notices(conn) {}
    pqxx::connection conn;
    NoticeLogger notices;  // declared after conn: unregisters before conn closes
};

namespace {

// An idle pooled connection has nothing to read: readable data or a hang-up means the server
// ended the session (restart, pg_terminate_backend, idle timeout). Checking this before BEGIN
// saves a doomed attempt (and a libpqxx 6.4 leak of the error result in that path).
bool looks_alive(PostgresDatabase::Connection& c) {
    if (!c.conn.is_open()) return false;
    const int fd = c.conn.sock();
    if (fd < 0) return false;
    pollfd p{};
    p.fd = fd;
    p.events = POLLIN;
    return ::poll(&p, 1, 0) == 0;
}

template <class W>
Status run_in(PostgresDatabase::Connection& c, const std::function<Status(Tx&)>& fn) {
    std::optional<W> w;
    try {
        w.emplace(c.conn);
    } catch (...) {
        rethrow_translated("BEGIN");
    }
    PgTx tx(*w);
    Status st = fn(tx);  // exceptions: w's destructor rolls back
    if (st.ok()) {
        try {
            w->commit();
        } catch (...) {
            rethrow_translated("COMMIT");
        }
    } else {
        try {
            w->abort();
        } catch (...) {
            rethrow_translated("ROLLBACK");
        }
    }
    return st;
}

}  // namespace

// Hands a pooled connection back on destruction unless discarded.
class PostgresDatabase::Lease {
  public:
    explicit Lease(PostgresDatabase& db) : db_(db), conn_(db.acquire(generation_)) {}
    ~Lease() {
        if (conn_) db_.release(std::move(conn_), generation_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *conn_; }
    void discard() { conn_.reset(); }

  private:
    PostgresDatabase& db_;
    std::uint64_t generation_ = 0;
    std::unique_ptr<Connection> conn_;
};

Result<std::unique_ptr<PostgresDatabase>> PostgresDatabase::open(const std::string& url) {
    std::unique_ptr<PostgresDatabase> db(new PostgresDatabase(url));
    try {
        std::uint64_t generation = 0;
        db->release(db->acquire(generation), generation);
    } catch (const std::exception& e) {
        // libpq's message names host and port, never the password. It spans lines ("...failed:
        // Connection refused\n\tIs the server running...?"): start-up reports one line.
        std::string why = e.what(), line;
        if (why.rfind("postgres: ", 0) == 0) why.erase(0, 10);
        if (auto tag = why.rfind(" ["); tag != std::string::npos && why.back() == ']') why.erase(tag);
        for (char c : why) {
            bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
            if (space && (line.empty() || line.back() == ' ')) continue;
            line.push_back(space ? ' ' : c);
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        return Error{Errc::unavailable, "cannot connect to PostgreSQL: " + line};
    }
    return db;
}

PostgresDatabase::PostgresDatabase(std::string url) : url_(std::move(url)) {}
PostgresDatabase::~PostgresDatabase() = default;

std::unique_ptr<PostgresDatabase::Connection> PostgresDatabase::acquire(std::uint64_t& generation) {
    for (;;) {
        std::unique_ptr<Connection> conn;
        {
            std::lock_guard lock(mu_);
            generation = generation_;
            if (idle_.empty()) break;
            conn = std::move(idle_.back());
            idle_.pop_back();
        }
        if (looks_alive(*conn)) return conn;
        // else: closed behind our back; drop it (outside the lock) and look again.
    }
    try {
        return std::make_unique<Connection>(url_);  // connects outside the lock
    } catch (...) {
        rethrow_translated("connect");
    }
}

void PostgresDatabase::release(std::unique_ptr<Connection> conn, std::uint64_t generation) {
    std::unique_ptr<Connection> closing;
    std::lock_guard lock(mu_);
    if (generation == generation_ && conn->conn.is_open())
        idle_.push_back(std::move(conn));
    else
        closing = std::move(conn);
}

void PostgresDatabase::close() {
    std::vector<std::unique_ptr<Connection>> closing;
    {
        std::lock_guard lock(mu_);
        closing.swap(idle_);
        ++generation_;
    }
}  // connections close here, outside the lock

Status PostgresDatabase::attempt(TxMode mode, const std::function<Status(Tx&)>& fn) {
    Lease lease(*this);
    Connection& c = *lease;
    try {
        switch (mode) {
            case TxMode::write: return run_in<WriteTransaction>(c, fn);
            case TxMode::read: return run_in<ReadTransaction>(c, fn);
            case TxMode::lookup: return run_in<pqxx::nontransaction>(c, fn);
        }
        return internal_error("unknown transaction mode");
    } catch (const DbError& e) {
        if (e.kind == DbError::Kind::broken_connection || !c.conn.is_open()) lease.discard();
        throw;
    } catch (...) {
        if (!c.conn.is_open()) lease.discard();
        throw;
    }
}

Status PostgresDatabase::run(TxMode mode, const std::function<Status(Tx&)>& fn) {
    return detail::run_with_policy("postgres", [&] { return attempt(mode, fn); });
}

Status PostgresDatabase::migrate() {
    return detail::run_with_policy("postgres", [&]() -> Status {
        try {
            // A dedicated session: the advisory lock is released when it closes, whatever
            // happens below.
            Connection c(url_);
            {
                pqxx::nontransaction n(c.conn);
                n.exec(fmt::format("SELECT pg_advisory_lock({})", kMigrationLockKey));
            }
            {
                WriteTransaction w(c.conn);
                PgTx tx(w);
                tx.script(detail::kCreateSchemaMigrations);
                detail::warn_about_unknown_versions(tx, Dialect::postgres);
                w.commit();
            }
            for (const Migration& m : migrations(Dialect::postgres)) {
                WriteTransaction w(c.conn);
                PgTx tx(w);
                detail::apply_migration(tx, m, [&](const char* sql) { tx.script(sql); });
                w.commit();
            }
            return {};
        } catch (...) {
            rethrow_translated("migrate");
        }
    });
}

}  // namespace silo::sql
