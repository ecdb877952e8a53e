#include "storage/workstation_repository.hpp"

namespace silo {

namespace {

constexpr const char* kColumns = "id, user_id, name, fingerprint, created_at, last_seen, disconnected_at";

WorkstationRecord read(const sql::Row& r) {
    WorkstationRecord w;
    w.id = r.str(0);
    w.user_id = r.str(1);
    w.name = r.str(2);
    w.fingerprint = r.str(3);
    w.created_at = r.i64(4);
    w.last_seen = r.opt_i64(5);
    w.disconnected_at = r.opt_i64(6);
    return w;
}

}  // namespace

bool WorkstationRepository::insert(sql::Tx& tx, const WorkstationRecord& w) {
    return !tx.query("INSERT INTO workstations (id, user_id, name, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5) "
                     "ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
                     {w.id, w.user_id, w.name, w.fingerprint, w.created_at})
                .empty();
}

std::optional<WorkstationRecord> WorkstationRepository::find(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string("SELECT ") + kColumns + " FROM workstations WHERE id = $1", {std::string(id)});
    if (!r) return std::nullopt;
    return read(*r);
}

std::optional<WorkstationRecord> WorkstationRepository::find_by_fingerprint(sql::Tx& tx, std::string_view fingerprint) {
    auto r = tx.query_one(std::string("SELECT ") + kColumns + " FROM workstations WHERE fingerprint = $1",
                          {std::string(fingerprint)});
    if (!r) return std::nullopt;
    return read(*r);
}

std::vector<WorkstationRecord> WorkstationRepository::list_for_user(sql::Tx& tx, std::string_view user_id) {
    std::vector<WorkstationRecord> out;
    for (const auto& r : tx.query(std::string("SELECT ") + kColumns +
                                      " FROM workstations WHERE user_id = $1 ORDER BY created_at, id",
                                  {std::string(user_id)}))
        out.push_back(read(r));
    return out;
}

void WorkstationRepository::rename(sql::Tx& tx, std::string_view id, const std::string& name) {
    tx.exec("UPDATE workstations SET name = $2 WHERE id = $1", {std::string(id), name});
}

bool WorkstationRepository::remove(sql::Tx& tx, std::string_view id) {
    return tx.exec("DELETE FROM workstations WHERE id = $1", {std::string(id)}) > 0;
}

void WorkstationRepository::seen(sql::Tx& tx, const std::vector<std::string>& ids, Millis now) {
    sql::exec_in_batches(tx, "UPDATE workstations SET last_seen = $1, disconnected_at = NULL WHERE id IN", {now}, ids);
}

void WorkstationRepository::disconnected(sql::Tx& tx, std::string_view id, Millis now) {
    tx.exec("UPDATE workstations SET disconnected_at = $2 WHERE id = $1", {std::string(id), now});
}

}  // namespace silo
