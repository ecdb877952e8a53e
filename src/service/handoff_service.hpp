// Handoff requests and admin force-release (API.md §7, the seed feature request).
//
// Request handoff: stored, then edit.handoff_requested to the holder's workstation. Pending
// requests settle when the session ends (fulfilled when the holder released it, superseded
// otherwise), through SessionService::on_end.
//
// Force-release, direct mode: one transaction ends the session, preserves the holder's
// uploaded work as a pinned force_release checkpoint (or references the holder's newest
// checkpoint made during the session), writes the edit.force_released audit row and sends
// edit.force_released to the holder's workstation (edit.session_released reaches the item's
// watchers through SessionService::release_in). Approval mode: an approval of the configured
// workflow guards the session; its completion hook, which runs inside the deciding signature's
// transaction on whichever instance recorded it, releases the session exactly as direct mode
// does. A session that ends another way first cancels the pending approval. Thread-safe.
#pragma once

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "service/approval_service.hpp"
#include "service/events.hpp"
#include "service/session_service.hpp"
#include "storage/handoff_repository.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace silo {

struct HandoffOutcome {
    HandoffRecord request;
    bool delivered = false;  // the holder's workstation had an open stream
};

struct ForceReleaseOutcome {
    enum class Kind { released, pending_approval, already_pending };
    Kind kind = Kind::released;
    std::string session_id;
    std::optional<std::string> checkpoint_id;  // released
    std::optional<ApprovalRecord> approval;    // pending_approval / already_pending
};

class HandoffService {
public:
    HandoffService(sql::Database& db, EventNotifier& events, SessionService& sessions,
                   ApprovalService& approvals, SessionsModuleConfig cfg);

    // Registers the session-end and approval-completion hooks. Call once, at start.
    void install_hooks();

    // 404 not an active session of that item; 409 the caller holds it, or already has a
    // pending request on it (the error's `handoff` field is that request); 400 message too long.
    Result<HandoffOutcome> request(const Principal& p, const std::string& part_number, const std::string& session_id,
                                   const std::string& message);
    // The holder declines (403 anyone else); 404 unknown; 409 no longer pending.
    Result<HandoffRecord> decline(const Principal& p, const std::string& id, const std::string& message);
    // What the caller may see: requests they made or received, all for admins. 400 bad status.
    Result<HandoffPage> list(const Principal& p, const std::string& session_id, const std::string& status,
                             std::int64_t limit, std::int64_t offset);

    // Admin only (the route checks); 400 blank or too long a reason, unknown approvers;
    // 404 not an active session of that item.
    Result<ForceReleaseOutcome> force_release(const Principal& admin, const std::string& part_number,
                                              const std::string& session_id, const std::string& reason,
                                              const std::vector<std::string>& approvers);

    // Whether a workstation has an open event stream (on any instance). Set at start.
    std::function<bool(const std::string& workstation_id)> connected;

private:
    // Ends s as a force-release inside tx; returns the checkpoint id (if any), or 404 when
    // the session was already gone. preserved receives a newly linked blob key, if any.
    Result<std::optional<std::string>> force_release_in(sql::Tx& tx, const SessionRecord& s, const std::string& admin,
                                                        const std::string& reason,
                                                        const std::optional<std::string>& approval_id,
                                                        std::optional<std::string>& work_path);
    Result<std::vector<Designation>> designations(const std::vector<std::string>& approvers) const;

    sql::Database& db_;
    EventNotifier& events_;
    SessionService& sessions_;
    ApprovalService& approvals_;
    SessionsModuleConfig cfg_;
};

// Handoff request JSON (API.md §7).
nlohmann::json handoff_json(const HandoffRecord& h);

}  // namespace silo
