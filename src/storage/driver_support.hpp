// Pieces shared by the two drivers (internal to src/storage): the transaction boundary policy
// and the migration bookkeeping.
#pragma once

#include <functional>

#include "core/error.hpp"
#include "storage/sql.hpp"

namespace silo::sql::detail {

// How many times in total a transaction is attempted while it keeps failing with busy /
// serialization / deadlock errors.
inline constexpr int kMaxRetryableAttempts = 10;

// Runs attempt(), one whole transaction on one pooled connection that throws on failure, and
// turns what it throws into a Status:
//   DbError retryable          -> attempted again after a short jittered backoff, at most
//                                 kMaxRetryableAttempts in all, then Errc::unavailable;
//   DbError broken_connection  -> attempted once more (the driver has dropped that connection),
//                                 then Errc::unavailable;
//   DbError unique_violation   -> Errc::conflict;
//   DbError invalid_text       -> Errc::bad_request;
//   DbError storage_full       -> Errc::insufficient_storage (507);
//   anything else              -> Errc::internal "internal database error".
// The exception's message is logged (spdlog) and never copied into the returned Error.
// A Status returned by attempt() is passed through unchanged. Thread-safe.
Status run_with_policy(const char* driver, const std::function<Status()>& attempt);

// Throws DbError invalid_text when a string parameter holds a NUL byte or is not valid UTF-8.
// Both drivers call it before binding.
void check_text_params(const Params& params);

// The bookkeeping table, the same text in both dialects.
inline constexpr const char* kCreateSchemaMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)";

// Inside one open write transaction: unless m.version is recorded already, runs m.sql through
// script (which accepts several statements) and records the version. Throws on failure.
void apply_migration(Tx& tx, const Migration& m,
                     const std::function<void(const char* sql)>& script);

// Logs a warning when the database records versions this binary does not know (a newer
// silod migrated it). Throws on failure.
void warn_about_unknown_versions(Tx& tx, Dialect dialect);

}  // namespace silo::sql::detail
