// Edit sessions (API.md §5): acquire with hard/soft interference, list, release by the
// holder, the holder's in-progress work upload, and liveness (heartbeat, sweeper, releases
// when a workstation or user goes away). Each change is one transaction with its audit row
// and events. Thread-safe.
#pragma once

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "domain/interference.hpp"
#include "service/events.hpp"
#include "storage/session_repository.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace silo {

struct AcquireInput {
    std::string workstation_id;
    std::string context_level;
    std::string object_id;
    std::vector<std::string> dependency_cone;
};

struct AcquireResult {
    SessionRecord session;
    std::vector<SoftConflict> conflicts;
};

// Why a session ended (edit.session_released "reason").
inline constexpr const char* kReleased = "released";
inline constexpr const char* kExpired = "expired";
inline constexpr const char* kDisconnected = "disconnected";
inline constexpr const char* kForceReleased = "force_released";
inline constexpr const char* kCheckpoint = "checkpoint";

class SessionService {
public:
    SessionService(sql::Database& db, EventNotifier& events, SessionsModuleConfig cfg, std::string work_dir)
        : db_(db), events_(events), cfg_(std::move(cfg)), work_dir_(std::move(work_dir)) {}

    // 400 bad input, 403 foreign workstation, 404 unknown item, 409 hard_interference (with holder).
    Result<AcquireResult> acquire(const Principal& p, const std::string& part_number, const AcquireInput& in);
    Result<std::vector<SessionRecord>> list_for_item(const std::string& part_number);
    Result<std::vector<SessionRecord>> list_all(const SessionFilter& filter);
    // The active session `session_id` of that item (404 otherwise).
    Result<SessionRecord> get(const std::string& part_number, const std::string& session_id);
    // Holder only (403 for another user); 404 when not an active session of that item.
    Status release(const Principal& p, const std::string& part_number, const std::string& session_id);
    // Stores the holder's in-progress file (a finished temporary upload), replacing the last.
    Result<SessionRecord> put_work(const Principal& p, const std::string& part_number, const std::string& session_id,
                                   const std::string& temp_file);

    // Inside a caller's transaction: ends the session, emits edit.session_released
    // (+ edit.interference_resolved) and the audit row. When the holder did not end it
    // (any reason but released / checkpoint), its uploaded work is first kept through keep_work
    // (the id lands in the audit details as checkpoint_id). Returns the session's work file path
    // ('' when none) and the kept checkpoint, or nullopt when the session was already gone
    // (someone else ended it). The caller commits, then calls committed() and removes the work
    // file (a kept checkpoint has its own link).
    struct Ended {
        std::string work_path;
        std::optional<std::string> kept_checkpoint_id;
        std::optional<Error> keep_error;  // the work was there but could not be kept
    };
    std::optional<Ended> release_in(sql::Tx& tx, const SessionRecord& s, const std::string& reason,
                                    const std::string& actor, nlohmann::json audit_details = nlohmann::json::object());

    // Liveness (called from timers and hooks; never throw).
    void heartbeat(const std::vector<std::string>& workstation_ids);
    void sweep();
    // Work files no session names (left by a crash, or by a force-release whose approval
    // completed: the checkpoint keeps its own link) and last written before `before`.
    void sweep_work_files(Millis before);
    void release_workstation(const std::string& workstation_id, const std::string& actor);
    void release_user(const std::string& user_id, const std::string& actor);
    // (item id, session id) of the sessions a workstation holds.
    std::vector<std::pair<std::string, std::string>> held_sessions(const std::string& workstation_id);

    // Runs inside the transaction that ends a session, whatever ended it, just before the
    // session row is deleted (handoff requests are settled here, pending force-release
    // approvals cancelled).
    std::vector<std::function<void(sql::Tx&, const SessionRecord&, const std::string& reason)>> on_end;
    // Keeps the work of a session its holder did not end (`work` as the row held it when
    // deleted; never empty); returns the checkpoint id. Set by CheckpointService::install_hooks.
    std::function<Result<std::string>(sql::Tx&, const SessionRecord&, const SessionRepository::Work& work,
                                      const std::string& reason)>
        keep_work;

    void committed() { events_.committed(); }
    // module_disabled (404) when modules.sessions.enabled is false.
    Status check_enabled() const {
        if (!cfg_.enabled) return Error(Errc::module_disabled, "the sessions module is disabled");
        return {};
    }

    // Removes a session work file ('' is a no-op).
    static void remove_file(const std::string& path);

private:
    // Releases each session in its own transaction; with still_due, only those it accepts there.
    using StillDue = std::function<bool(sql::Tx&, const std::string& session_id)>;
    void release_many(const std::vector<SessionRecord>& sessions, const std::string& reason, const std::string& actor,
                      const StillDue& still_due = nullptr);

    sql::Database& db_;
    EventNotifier& events_;
    SessionsModuleConfig cfg_;
    std::string work_dir_;
};

// Session JSON (API.md §5).
nlohmann::json session_json(const SessionRecord& s);

}  // namespace silo
