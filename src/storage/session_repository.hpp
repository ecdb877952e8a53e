// Edit sessions (API.md §5). Hard interference is decided by the database: a unique
// constraint on (item_id, context_level, object_id) lets exactly one of any number of
// concurrent acquires insert its row, on both databases and across instances.
// Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct SessionRecord {
    std::string id;
    std::string item_id;
    std::string part_number;  // filled by reads (join with items)
    std::string user_id;
    std::string username;
    std::string workstation_id;
    std::string context_level;  // sketch | partdesign | assembly
    std::string object_id;
    std::vector<std::string> dependency_cone;
    Millis acquired_at = 0;
    Millis last_heartbeat = 0;
    // The holder's uploaded in-progress work (PUT .../work), if any.
    std::string work_path;
    std::int64_t work_size = 0;
    std::string work_hash;
};

struct SessionFilter {
    std::string item_id, user, workstation_id;  // empty: any (user matches the username)
};

class SessionRepository {
public:
    // false when another session holds (item, context_level, object_id).
    static bool insert(sql::Tx& tx, const SessionRecord& s);
    static std::optional<SessionRecord> find(sql::Tx& tx, std::string_view id);
    static std::optional<SessionRecord> find_holder(sql::Tx& tx, std::string_view item_id, std::string_view level,
                                                    std::string_view object_id);
    static std::vector<SessionRecord> list(sql::Tx& tx, const SessionFilter& f);
    // Deletes the row and returns its work as the row held it when deleted (path '' when none;
    // on PostgreSQL a work upload committing meanwhile is waited for); nullopt when it was
    // already gone (someone else released it first).
    struct Work {
        std::string path;
        std::int64_t size = 0;
        std::string hash;
    };
    static std::optional<Work> remove(sql::Tx& tx, std::string_view id);
    // false when the session is gone (ended since it was read).
    static bool set_work(sql::Tx& tx, std::string_view id, const std::string& path, std::int64_t size,
                         const std::string& hash);
    // The heartbeat tick: sessions of workstations with an open stream stay alive.
    static void heartbeat(sql::Tx& tx, const std::vector<std::string>& workstation_ids, Millis now);
    // Sessions whose last_heartbeat is older than `before`.
    static std::vector<SessionRecord> expired(sql::Tx& tx, Millis before);
    // Sessions of workstations whose last stream closed before `before` and did not come back
    // (only sessions already held when the stream dropped: acquiring needs no open stream).
    static std::vector<SessionRecord> disconnected(sql::Tx& tx, Millis before);
    // Whether one session still meets expired() / disconnected() (the sweeper checks again in
    // the transaction that releases it: a heartbeat or a reconnect may have come in between).
    // still_disconnected locks the workstation row (write transactions only).
    static bool still_expired(sql::Tx& tx, std::string_view id, Millis before);
    static bool still_disconnected(sql::Tx& tx, std::string_view id, Millis before);
    // (item id, session id) of the sessions a workstation holds.
    static std::vector<std::pair<std::string, std::string>> held_sessions(sql::Tx& tx, std::string_view workstation_id);
    // Whether a session names this work file.
    static bool work_referenced(sql::Tx& tx, std::string_view path);
};

}  // namespace silo
