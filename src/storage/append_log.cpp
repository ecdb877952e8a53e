#include "storage/append_log.hpp"

namespace silo {

namespace {
// An arbitrary constant naming silod's append lock among advisory locks.
constexpr const char* kLockAppendLogs = "SELECT pg_advisory_xact_lock(7243001)";
}  // namespace

void lock_append_logs(sql::Tx& tx) {
    if (tx.dialect() == sql::Dialect::postgres) tx.query(kLockAppendLogs);
}

}  // namespace silo
