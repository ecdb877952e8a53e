#include "storage/session_repository.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace silo {

namespace {

constexpr const char* kColumns =
    "s.id, s.item_id, i.part_number, s.user_id, s.username, s.workstation_id, s.context_level, s.object_id, "
    "s.dependency_cone, s.acquired_at, s.last_heartbeat, s.work_path, s.work_size, s.work_hash";
constexpr const char* kFrom = " FROM edit_sessions s JOIN items i ON i.id = s.item_id";
// The sweeper's conditions ($1: the cutoff), for its list and for its check where it releases.
constexpr const char* kExpiredWhere = "s.last_heartbeat < $1";
constexpr const char* kJoinWorkstation = " JOIN workstations w ON w.id = s.workstation_id";
constexpr const char* kDisconnectedWhere =
    "w.disconnected_at IS NOT NULL AND w.disconnected_at <= $1 AND s.acquired_at <= w.disconnected_at";

SessionRecord read(const sql::Row& r) {
    SessionRecord s;
    s.id = r.str(0);
    s.item_id = r.str(1);
    s.part_number = r.str(2);
    s.user_id = r.str(3);
    s.username = r.str(4);
    s.workstation_id = r.str(5);
    s.context_level = r.str(6);
    s.object_id = r.str(7);
    auto cone = nlohmann::json::parse(r.str(8), nullptr, false);
    if (cone.is_array())
        for (const auto& n : cone)
            if (n.is_string()) s.dependency_cone.push_back(n.get<std::string>());
    s.acquired_at = r.i64(9);
    s.last_heartbeat = r.i64(10);
    s.work_path = r.str(11);
    s.work_size = r.i64(12);
    s.work_hash = r.str(13);
    return s;
}

std::vector<SessionRecord> read_all(const sql::Rows& rows) {
    std::vector<SessionRecord> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(read(r));
    return out;
}

}  // namespace

bool SessionRepository::insert(sql::Tx& tx, const SessionRecord& s) {
    return !tx.query(
                  "INSERT INTO edit_sessions (id, item_id, user_id, username, workstation_id, context_level, object_id, "
                  "dependency_cone, acquired_at, last_heartbeat, work_path, work_size, work_hash) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', 0, '') "
                  "ON CONFLICT (item_id, context_level, object_id) DO NOTHING RETURNING id",
                  {s.id, s.item_id, s.user_id, s.username, s.workstation_id, s.context_level, s.object_id,
                   nlohmann::json(s.dependency_cone).dump(), s.acquired_at, s.last_heartbeat})
                .empty();
}

std::optional<SessionRecord> SessionRepository::find(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string("SELECT ") + kColumns + kFrom + " WHERE s.id = $1", {std::string(id)});
    if (!r) return std::nullopt;
    return read(*r);
}

std::optional<SessionRecord> SessionRepository::find_holder(sql::Tx& tx, std::string_view item_id,
                                                            std::string_view level, std::string_view object_id) {
    auto r = tx.query_one(std::string("SELECT ") + kColumns + kFrom +
                              " WHERE s.item_id = $1 AND s.context_level = $2 AND s.object_id = $3",
                          {std::string(item_id), std::string(level), std::string(object_id)});
    if (!r) return std::nullopt;
    return read(*r);
}

std::vector<SessionRecord> SessionRepository::list(sql::Tx& tx, const SessionFilter& f) {
    sql::Where w;
    w.add("s.item_id", f.item_id).add("s.username", f.user).add("s.workstation_id", f.workstation_id);
    return read_all(tx.query(std::string("SELECT ") + kColumns + kFrom + w.sql + " ORDER BY s.acquired_at, s.id", w.params));
}

std::optional<SessionRepository::Work> SessionRepository::remove(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one("DELETE FROM edit_sessions WHERE id = $1 RETURNING work_path, work_size, work_hash",
                          {std::string(id)});
    if (!r) return std::nullopt;
    return Work{r->str(0), r->i64(1), r->str(2)};
}

bool SessionRepository::set_work(sql::Tx& tx, std::string_view id, const std::string& path, std::int64_t size,
                                 const std::string& hash) {
    return tx.exec("UPDATE edit_sessions SET work_path = $2, work_size = $3, work_hash = $4 WHERE id = $1",
                   {std::string(id), path, size, hash}) > 0;
}

void SessionRepository::heartbeat(sql::Tx& tx, const std::vector<std::string>& workstation_ids, Millis now) {
    sql::exec_in_batches(tx, "UPDATE edit_sessions SET last_heartbeat = $1 WHERE workstation_id IN", {now},
                         workstation_ids);
}

std::vector<SessionRecord> SessionRepository::expired(sql::Tx& tx, Millis before) {
    return read_all(tx.query(std::string("SELECT ") + kColumns + kFrom + " WHERE " + kExpiredWhere, {before}));
}

std::vector<SessionRecord> SessionRepository::disconnected(sql::Tx& tx, Millis before) {
    return read_all(tx.query(std::string("SELECT ") + kColumns + kFrom + kJoinWorkstation + " WHERE " + kDisconnectedWhere,
                             {before}));
}

bool SessionRepository::still_expired(sql::Tx& tx, std::string_view id, Millis before) {
    return tx.query_one(std::string("SELECT 1 FROM edit_sessions s WHERE ") + kExpiredWhere + " AND s.id = $2",
                        {before, std::string(id)})
        .has_value();
}

bool SessionRepository::still_disconnected(sql::Tx& tx, std::string_view id, Millis before) {
    // Locks the workstation row first, with an UPDATE that changes nothing: PostgreSQL (read
    // committed) evaluates its WHERE on the newest version of the row, so a reconnect that
    // committed meanwhile is seen, and one that comes later waits for this transaction.
    if (tx.exec("UPDATE workstations SET disconnected_at = disconnected_at"
                " WHERE id = (SELECT workstation_id FROM edit_sessions WHERE id = $2)"
                " AND disconnected_at IS NOT NULL AND disconnected_at <= $1",
                {before, std::string(id)}) == 0)
        return false;
    return tx.query_one(std::string("SELECT 1 FROM edit_sessions s") + kJoinWorkstation + " WHERE " + kDisconnectedWhere +
                            " AND s.id = $2",
                        {before, std::string(id)})
        .has_value();
}

std::vector<std::pair<std::string, std::string>> SessionRepository::held_sessions(sql::Tx& tx,
                                                                                 std::string_view workstation_id) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : tx.query("SELECT item_id, id FROM edit_sessions WHERE workstation_id = $1",
                                  {std::string(workstation_id)}))
        out.emplace_back(r.str(0), r.str(1));
    return out;
}

bool SessionRepository::work_referenced(sql::Tx& tx, std::string_view path) {
    return tx.query_one("SELECT 1 FROM edit_sessions WHERE work_path = $1", {std::string(path)}).has_value();
}

}  // namespace silo
