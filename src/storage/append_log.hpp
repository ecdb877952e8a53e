// The append lock shared by the two append-only logs (audit_log, events): rows of both get
// their ids and hash links in commit order. On PostgreSQL a transaction-scoped advisory lock,
// taken at the first append and held to commit; on SQLite the write lock of BEGIN IMMEDIATE
// already serialises writers. Keep appends at the end of a transaction: the lock is held
// from the first append until commit.
#pragma once

#include "storage/sql.hpp"

namespace silo {

void lock_append_logs(sql::Tx& tx);

}  // namespace silo
