// The PostgreSQL driver (libpqxx 6.4): the production database.
//
// A mutex-protected pool of pqxx::connection objects, opened lazily: one per concurrently
// running transaction, idle ones reused. A write transaction is a pqxx::work (READ COMMITTED);
// a read transaction is REPEATABLE READ READ ONLY, so that every statement in it sees one
// snapshot (as a SQLite read transaction does) and an accidental write fails loudly.
// Parameters travel as text ($N placeholders, server-side typing); integer, float and boolean
// result columns come back typed, everything else as text.
// A connection that breaks is dropped from the pool and the transaction is attempted once more
// on a fresh one. migrate() runs on a dedicated connection holding a session advisory lock, so
// that several processes starting together apply each version exactly once.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/sql.hpp"

namespace silo::sql {

// The compiled-in PostgreSQL migrations (postgres/migrations.cpp).
const std::vector<Migration>& postgres_migrations();

// The pg_advisory_lock key held while migrating ("silo" in ASCII).
inline constexpr long long kMigrationLockKey = 0x73696c6f;

class PostgresDatabase final : public Database {
  public:
    // Opens a first connection (so that a bad URL or an unreachable server fails here).
    // Does not migrate.
    static Result<std::unique_ptr<PostgresDatabase>> open(const std::string& url);
    ~PostgresDatabase() override;

    Dialect dialect() const override { return Dialect::postgres; }
    Status migrate() override;
    // Closes the idle connections; connections in use are closed when their transaction ends.
    // The database stays usable (new connections are opened on demand).
    void close() override;

    struct Connection;  // one pqxx::connection and its notice handler (postgres_database.cpp)

  protected:
    Status run(TxMode mode, const std::function<Status(Tx&)>& fn) override;

  private:
    explicit PostgresDatabase(std::string url);

    class Lease;
    std::unique_ptr<Connection> acquire(std::uint64_t& generation);
    void release(std::unique_ptr<Connection> conn, std::uint64_t generation);
    Status attempt(TxMode mode, const std::function<Status(Tx&)>& fn);

    const std::string url_;
    std::mutex mu_;
    std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
    std::uint64_t generation_ = 0;                   // guarded by mu_; bumped by close()
};

}  // namespace silo::sql
