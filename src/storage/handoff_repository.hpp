// Handoff requests and pending force-release requests (API.md §7). Stateless; throws
// sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct HandoffRecord {
    std::string id;
    std::string session_id;
    std::string item_id;
    std::string part_number;  // filled by reads (join with items)
    std::string requester_id;
    std::string requester;
    std::string holder_id;
    std::string holder;
    std::string holder_workstation_id;
    std::string message;
    std::string status;    // pending | declined | fulfilled | superseded
    std::string response;  // the holder's decline message
    Millis created_at = 0;
    Millis resolved_at = 0;  // 0 while pending
};

struct HandoffFilter {
    std::string session_id;  // '' any
    std::string status;      // '' any
    std::string party_id;    // '' any; else requests the user made or received
};

struct HandoffPage {
    std::vector<HandoffRecord> requests;
    std::int64_t total = 0;
};

class HandoffRepository {
public:
    // false when the requester already has a pending request on that session (one at most:
    // a unique index decides between concurrent requests).
    static bool insert(sql::Tx& tx, const HandoffRecord& h);
    // The requester's pending request on a session, if any.
    static std::optional<HandoffRecord> find_pending(sql::Tx& tx, std::string_view session_id,
                                                     std::string_view requester_id);
    static std::optional<HandoffRecord> find(sql::Tx& tx, std::string_view id);
    // Newest first.
    static HandoffPage list(sql::Tx& tx, const HandoffFilter& f, std::int64_t limit, std::int64_t offset);
    // pending -> status; false when it was no longer pending.
    static bool resolve(sql::Tx& tx, std::string_view id, std::string_view status, const std::string& response, Millis now);
    // Every pending request of a session -> status.
    static void resolve_session(sql::Tx& tx, std::string_view session_id, std::string_view status, Millis now);
};

// A force-release waiting for its approval; at most one per session.
struct ForceReleaseRequest {
    std::string session_id;
    std::string approval_id;
    std::string admin;
    std::string reason;
    Millis created_at = 0;
};

class ForceReleaseRepository {
public:
    // false when the session already has one (the primary key decides between racing admins).
    static bool insert(sql::Tx& tx, const ForceReleaseRequest& r);
    static void set_approval(sql::Tx& tx, std::string_view session_id, std::string_view approval_id);
    static std::optional<ForceReleaseRequest> find(sql::Tx& tx, std::string_view session_id);
    // Deletes and returns the session's request.
    static std::optional<ForceReleaseRequest> take(sql::Tx& tx, std::string_view session_id);
};

}  // namespace silo
