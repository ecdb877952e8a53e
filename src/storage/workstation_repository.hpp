// Workstations (API.md §4): one client installation of one user, by stable fingerprint.
// Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct WorkstationRecord {
    std::string id;
    std::string user_id;
    std::string name;
    std::string fingerprint;
    Millis created_at = 0;
    std::optional<Millis> last_seen;
    std::optional<Millis> disconnected_at;
};

class WorkstationRepository {
public:
    // false when the fingerprint is taken.
    static bool insert(sql::Tx& tx, const WorkstationRecord& w);
    static std::optional<WorkstationRecord> find(sql::Tx& tx, std::string_view id);
    static std::optional<WorkstationRecord> find_by_fingerprint(sql::Tx& tx, std::string_view fingerprint);
    static std::vector<WorkstationRecord> list_for_user(sql::Tx& tx, std::string_view user_id);
    static void rename(sql::Tx& tx, std::string_view id, const std::string& name);
    static bool remove(sql::Tx& tx, std::string_view id);
    // An open stream: last_seen = now, not disconnected.
    static void seen(sql::Tx& tx, const std::vector<std::string>& ids, Millis now);
    // The last stream of this instance closed.
    static void disconnected(sql::Tx& tx, std::string_view id, Millis now);
};

}  // namespace silo
