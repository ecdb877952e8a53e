#include "storage/handoff_repository.hpp"

namespace silo {

namespace {

constexpr const char* kSelect =
    "SELECT h.id, h.session_id, h.item_id, i.part_number, h.requester_id, h.requester, h.holder_id, h.holder, "
    "h.holder_workstation_id, h.message, h.status, h.response, h.created_at, h.resolved_at "
    "FROM handoff_requests h JOIN items i ON i.id = h.item_id ";
constexpr const char* kWhere =
    "WHERE ($1 = '' OR h.session_id = $1) AND ($2 = '' OR h.status = $2) "
    "AND ($3 = '' OR h.requester_id = $3 OR h.holder_id = $3) ";

HandoffRecord read(const sql::Row& r) {
    HandoffRecord h;
    h.id = r.str(0);
    h.session_id = r.str(1);
    h.item_id = r.str(2);
    h.part_number = r.str(3);
    h.requester_id = r.str(4);
    h.requester = r.str(5);
    h.holder_id = r.str(6);
    h.holder = r.str(7);
    h.holder_workstation_id = r.str(8);
    h.message = r.str(9);
    h.status = r.str(10);
    h.response = r.str(11);
    h.created_at = r.i64(12);
    h.resolved_at = r.i64(13);
    return h;
}

ForceReleaseRequest read_force(const sql::Row& r) {
    return {r.str(0), r.str(1), r.str(2), r.str(3), r.i64(4)};
}

constexpr const char* kForceColumns = "session_id, approval_id, admin, reason, created_at";

}  // namespace

bool HandoffRepository::insert(sql::Tx& tx, const HandoffRecord& h) {
    return tx.exec("INSERT INTO handoff_requests (id, session_id, item_id, requester_id, requester, holder_id, "
                   "holder, holder_workstation_id, message, status, response, created_at, resolved_at) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                   "ON CONFLICT (session_id, requester_id) WHERE status = 'pending' DO NOTHING",
                   {h.id, h.session_id, h.item_id, h.requester_id, h.requester, h.holder_id, h.holder,
                    h.holder_workstation_id, h.message, h.status, h.response, h.created_at, h.resolved_at}) == 1;
}

std::optional<HandoffRecord> HandoffRepository::find_pending(sql::Tx& tx, std::string_view session_id,
                                                             std::string_view requester_id) {
    auto r = tx.query_one(std::string(kSelect) +
                              "WHERE h.session_id = $1 AND h.requester_id = $2 AND h.status = 'pending'",
                          {std::string(session_id), std::string(requester_id)});
    if (!r) return std::nullopt;
    return read(*r);
}

std::optional<HandoffRecord> HandoffRepository::find(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string(kSelect) + "WHERE h.id = $1", {std::string(id)});
    if (!r) return std::nullopt;
    return read(*r);
}

HandoffPage HandoffRepository::list(sql::Tx& tx, const HandoffFilter& f, std::int64_t limit, std::int64_t offset) {
    HandoffPage page;
    page.total = tx.query_one(std::string("SELECT COUNT(*) FROM handoff_requests h ") + kWhere,
                              {f.session_id, f.status, f.party_id})
                     ->i64(0);
    for (const auto& r : tx.query(std::string(kSelect) + kWhere + "ORDER BY h.created_at DESC, h.id DESC LIMIT $4 OFFSET $5",
                                  {f.session_id, f.status, f.party_id, limit, offset}))
        page.requests.push_back(read(r));
    return page;
}

bool HandoffRepository::resolve(sql::Tx& tx, std::string_view id, std::string_view status, const std::string& response,
                                Millis now) {
    return tx.exec("UPDATE handoff_requests SET status = $2, response = $3, resolved_at = $4 "
                   "WHERE id = $1 AND status = 'pending'",
                   {std::string(id), std::string(status), response, now}) > 0;
}

void HandoffRepository::resolve_session(sql::Tx& tx, std::string_view session_id, std::string_view status, Millis now) {
    tx.exec("UPDATE handoff_requests SET status = $2, resolved_at = $3 WHERE session_id = $1 AND status = 'pending'",
            {std::string(session_id), std::string(status), now});
}

bool ForceReleaseRepository::insert(sql::Tx& tx, const ForceReleaseRequest& r) {
    return !tx.query("INSERT INTO force_release_requests (session_id, approval_id, admin, reason, created_at) "
                     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING RETURNING session_id",
                     {r.session_id, r.approval_id, r.admin, r.reason, r.created_at})
                .empty();
}

void ForceReleaseRepository::set_approval(sql::Tx& tx, std::string_view session_id, std::string_view approval_id) {
    tx.exec("UPDATE force_release_requests SET approval_id = $2 WHERE session_id = $1",
            {std::string(session_id), std::string(approval_id)});
}

std::optional<ForceReleaseRequest> ForceReleaseRepository::find(sql::Tx& tx, std::string_view session_id) {
    auto r = tx.query_one(std::string("SELECT ") + kForceColumns + " FROM force_release_requests WHERE session_id = $1",
                          {std::string(session_id)});
    if (!r) return std::nullopt;
    return read_force(*r);
}

std::optional<ForceReleaseRequest> ForceReleaseRepository::take(sql::Tx& tx, std::string_view session_id) {
    auto r = tx.query_one(std::string("DELETE FROM force_release_requests WHERE session_id = $1 RETURNING ") + kForceColumns,
                          {std::string(session_id)});
    if (!r) return std::nullopt;
    return read_force(*r);
}

}  // namespace silo
