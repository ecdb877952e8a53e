// The audit log (API.md §9): append-only, each row chained to the previous one by SHA-256.
//
// Row ids are gap-free (1, 2, 3, ...), assigned under the append lock, so a deleted row shows
// as a missing id; audit_head keeps the id and hash of the newest row, so a truncated tail
// shows too. hash = SHA-256 over the previous row's hash and this row's fields
// (length-prefixed, so no two different rows hash alike). Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace silo {

struct AuditRecord {
    std::string actor;
    std::string action;
    std::string resource_type;
    std::string resource_id;
    nlohmann::json details = nlohmann::json::object();
};

struct AuditEntry {
    std::int64_t id = 0;
    Millis at = 0;
    std::string actor, action, resource_type, resource_id;
    std::string details;  // JSON text exactly as stored (and hashed)
    std::string prev_hash, hash;
};

struct AuditFilter {
    std::string action, resource_type, resource_id, actor;  // empty: any
    std::optional<Millis> since;                             // at >= since
    std::int64_t limit = 100;
    std::int64_t offset = 0;
};

struct AuditPage {
    std::vector<AuditEntry> entries;  // newest first
    std::int64_t total = 0;
};

struct AuditVerification {
    bool ok = true;
    std::int64_t checked = 0;
    std::optional<std::int64_t> first_bad_id;
    // The newest row as the chain ends (0 and "" when empty): kept outside the database (a
    // ticket, a monitor), it is an anchor that a full rewrite of the chain cannot move.
    std::int64_t head_id = 0;
    std::string head_hash;
};

// A row id and the hash it had, remembered from an earlier verification.
struct AuditAnchor {
    std::int64_t id = 0;
    std::string hash;
};

class AuditRepository {
public:
    // Appends one row in the caller's transaction (takes the append lock). Returns its id.
    static std::int64_t append(sql::Tx& tx, const AuditRecord& rec, Millis at);
    static AuditPage list(sql::Tx& tx, const AuditFilter& filter);
    // Walks the whole chain; first_bad_id names the first altered, inserted or deleted row.
    // The head (audit_head) is the chain's anchor inside the database: a row rewritten with
    // every later hash recomputed shows as the last row disagreeing with it. With an anchor
    // from outside, a row whose hash is no longer the remembered one is named too (so is a
    // rewrite that moved the head along).
    static AuditVerification verify(sql::Tx& tx, const std::optional<AuditAnchor>& anchor = std::nullopt);
    // The chain hash of one row's content (exposed for tests).
    static std::string row_hash(const std::string& prev_hash, std::int64_t id, Millis at, const std::string& actor,
                                const std::string& action, const std::string& resource_type,
                                const std::string& resource_id, const std::string& details);
};

}  // namespace silo
