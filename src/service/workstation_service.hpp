// Workstations (API.md §4): register (idempotent on fingerprint), list own, delete own, and
// presence (last_seen / disconnected_at) fed by the event hub. Thread-safe.
#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "service/events.hpp"
#include "storage/sql.hpp"
#include "storage/workstation_repository.hpp"

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace silo {

class WorkstationService {
public:
    explicit WorkstationService(sql::Database& db) : db_(db) {}

    struct Registered {
        WorkstationRecord workstation;
        bool created = false;
    };
    // 400 bad input; 409 when another user registered that fingerprint.
    Result<Registered> register_workstation(const Principal& p, const std::string& name, const std::string& fingerprint);
    Result<std::vector<WorkstationRecord>> list(const Principal& p);
    // 404 unknown; 403 another user's.
    Status remove(const Principal& p, const std::string& id);
    // The caller's own workstation: 400 malformed id, 403 unknown or another user's.
    Result<WorkstationRecord> owned(const Principal& p, const std::string& id);
    // Whether a workstation is registered (not deleted).
    Result<bool> exists(const std::string& id);

    // Presence writes, serialised and checked against `online` at write time, so a heartbeat
    // write racing a disconnect never leaves a closed workstation marked connected.
    void seen(const std::vector<std::string>& ids);
    void disconnected(const std::string& id);
    // Whether this instance has an open stream of a workstation now (set at start).
    std::function<bool(const std::string&)> online;
    // Whether the workstation has an open stream on this instance or, by its presence row, on
    // another one (seen within fresh_ms and not disconnected since).
    bool connected(const std::string& id, Millis fresh_ms);

    // Runs after a workstation was deleted (close its streams, release its sessions).
    std::function<void(const WorkstationRecord&)> on_removed;

private:
    sql::Database& db_;
    std::mutex presence_mu_;
};

}  // namespace silo
