#include "storage/driver_support.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "core/clock.hpp"
#include "core/strings.hpp"
#include "storage/sql.hpp"

namespace silo::sql::detail {

namespace {

void backoff(int attempt) {
    // 1, 2, 4, ... 64 ms, each scaled by a random factor in [0.5, 1.5) so that colliding
    // writers spread out.
    thread_local std::minstd_rand rng{std::random_device{}()};
    const int base_us = 1000 * (1 << std::min(attempt - 1, 6));
    std::uniform_int_distribution<int> jitter(base_us / 2, base_us + base_us / 2);
    std::this_thread::sleep_for(std::chrono::microseconds(jitter(rng)));
}

}  // namespace

Status run_with_policy(const char* driver, const std::function<Status()>& attempt) {
    int retries = 0;
    bool reconnected = false;
    for (;;) {
        try {
            return attempt();
        } catch (const DbError& e) {
            switch (e.kind) {
                case DbError::Kind::retryable:
                    if (++retries < kMaxRetryableAttempts) {
                        spdlog::debug("{}: retrying transaction ({}): {}", driver, retries,
                                      e.what());
                        backoff(retries);
                        continue;
                    }
                    spdlog::error("{}: transaction still failing after {} attempts: {}", driver,
                                  retries, e.what());
                    return Error{Errc::unavailable, "database busy, try again"};
                case DbError::Kind::broken_connection:
                    if (!reconnected) {
                        reconnected = true;
                        spdlog::warn("{}: connection lost, retrying on a new one: {}", driver,
                                     e.what());
                        continue;
                    }
                    spdlog::error("{}: database unavailable: {}", driver, e.what());
                    return Error{Errc::unavailable, "database unavailable"};
                case DbError::Kind::unique_violation:
                    spdlog::debug("{}: unique violation: {}", driver, e.what());
                    return Error{Errc::conflict, "a record with the same key already exists"};
                case DbError::Kind::storage_full:
                    spdlog::error("{}: the disk is full: {}", driver, e.what());
                    return Error{Errc::insufficient_storage, "the database's disk is full; nothing was written"};
                case DbError::Kind::invalid_text:
                    spdlog::warn("{}: {}", driver, e.what());
                    return Error{Errc::bad_request,
                                 "the request holds text that cannot be stored (a NUL byte or invalid UTF-8)"};
                case DbError::Kind::other:
                    break;
            }
            spdlog::error("{}: database error: {}", driver, e.what());
        } catch (const std::exception& e) {
            spdlog::error("{}: exception in transaction: {}", driver, e.what());
        } catch (...) {
            spdlog::error("{}: unknown exception in transaction", driver);
        }
        return Error{Errc::internal, "internal database error"};
    }
}

void check_text_params(const Params& params) {
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto* s = std::get_if<std::string>(&params[i]);
        if (s && (s->find('\0') != std::string::npos || !valid_utf8(*s)))
            throw DbError(DbError::Kind::invalid_text,
                          "parameter $" + std::to_string(i + 1) + " holds a NUL byte or invalid UTF-8");
    }
}

void apply_migration(Tx& tx, const Migration& m,
                     const std::function<void(const char* sql)>& script) {
    if (tx.query_one("SELECT 1 FROM schema_migrations WHERE version = $1",
                     {std::int64_t{m.version}}))
        return;
    script(m.sql);
    tx.exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            {std::int64_t{m.version}, now_millis()});
    spdlog::info("database migrated to schema version {}", m.version);
}

void warn_about_unknown_versions(Tx& tx, Dialect dialect) {
    const auto& known = migrations(dialect);
    const std::int64_t latest = known.empty() ? 0 : known.back().version;
    auto row = tx.query_one("SELECT MAX(version) FROM schema_migrations");
    if (row && !row->is_null(0) && row->i64(0) > latest)
        spdlog::warn("database schema version {} is newer than this build knows ({})", row->i64(0),
                     latest);
}

}  // namespace silo::sql::detail
