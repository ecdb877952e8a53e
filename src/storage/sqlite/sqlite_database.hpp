// The SQLite driver (SQLiteCpp): the embedded default database.
//
// A mutex-protected pool of connections to one database file, opened lazily: one per
// concurrently running transaction, idle ones reused. Every connection runs in WAL mode with
// foreign keys on, a 10 s busy timeout and synchronous=NORMAL. Write transactions start with
// BEGIN IMMEDIATE (so writers queue on the busy timeout instead of failing on a lock upgrade),
// read transactions with a deferred BEGIN (a consistent WAL snapshot; readers never block).
// The write transactions of this process first take an in-process lock, so that they wait
// for each other on it and go on as soon as it is free; the busy timeout, which sleeps between
// attempts, is then only for writers in other processes (the command line).
// SQL uses $N placeholders, rewritten to ?N once per statement and connection (prepared
// statements are cached per connection).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/sql.hpp"

namespace silo::sql {

// The compiled-in SQLite migrations (sqlite/migrations.cpp).
const std::vector<Migration>& sqlite_migrations();

class SqliteDatabase final : public Database {
  public:
    // Creates the parent directories and the file if needed and opens a first connection (so
    // that a bad path fails here, not on the first request). Does not migrate.
    static Result<std::unique_ptr<SqliteDatabase>> open(const std::string& path);
    ~SqliteDatabase() override;

    Dialect dialect() const override { return Dialect::sqlite; }
    Status migrate() override;
    // Closes the idle connections; connections in use are closed when their transaction ends.
    // The database stays usable (new connections are opened on demand).
    void close() override;

    struct Connection;  // one SQLite connection and its statement cache (sqlite_database.cpp)

  protected:
    Status run(TxMode mode, const std::function<Status(Tx&)>& fn) override;

  private:
    explicit SqliteDatabase(std::string path);

    class Lease;
    std::unique_ptr<Connection> acquire(std::uint64_t& generation);
    void release(std::unique_ptr<Connection> conn, std::uint64_t generation);
    Status attempt(TxMode mode, const std::function<Status(Tx&)>& fn);

    const std::string path_;
    std::mutex mu_;
    std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
    std::uint64_t generation_ = 0;                   // guarded by mu_; bumped by close()
    std::timed_mutex writer_;  // held by this process's write transaction, if any
};

}  // namespace silo::sql
