#include "service/workstation_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/strings.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"

namespace silo {

namespace {
constexpr std::size_t kMaxField = 256;
}

Result<WorkstationService::Registered> WorkstationService::register_workstation(const Principal& p,
                                                                               const std::string& name,
                                                                               const std::string& fingerprint) {
    if (blank(name) || name.size() > kMaxField) return bad_request("name must be 1 to 256 characters");
    if (blank(fingerprint) || fingerprint.size() > kMaxField)
        return bad_request("fingerprint must be 1 to 256 characters");
    return transact_as<Registered>(db_, p, [&](sql::Tx& tx) -> Result<Registered> {
        Registered out;
        if (auto existing = WorkstationRepository::find_by_fingerprint(tx, fingerprint)) {
            if (existing->user_id != p.user_id)
                return conflict("this fingerprint is registered to another user");
            if (existing->name != name) {
                WorkstationRepository::rename(tx, existing->id, name);
                existing->name = name;
            }
            out.workstation = std::move(*existing);
            return out;
        }
        auto& w = out.workstation;
        w.id = new_uuid();
        w.user_id = p.user_id;
        w.name = name;
        w.fingerprint = fingerprint;
        w.created_at = now_millis();
        if (!WorkstationRepository::insert(tx, w)) return conflict("this fingerprint is registered to another user");
        AuditRepository::append(tx, {p.username, "workstation.registered", "workstation", w.id,
                                     {{"name", name}, {"fingerprint", fingerprint}}},
                                w.created_at);
        out.created = true;
        return out;
    });
}

Result<std::vector<WorkstationRecord>> WorkstationService::list(const Principal& p) {
    return db_.transact<std::vector<WorkstationRecord>>(
        sql::TxMode::read, [&](sql::Tx& tx) -> Result<std::vector<WorkstationRecord>> {
            return WorkstationRepository::list_for_user(tx, p.user_id);
        });
}

Status WorkstationService::remove(const Principal& p, const std::string& id) {
    if (!is_uuid(id)) return not_found("no workstation " + id);
    WorkstationRecord removed;
    SILO_CHECK(transact_as(db_, p, [&](sql::Tx& tx) -> Status {
        auto w = WorkstationRepository::find(tx, to_lower_uuid(id));
        if (!w) return not_found("no workstation " + id);
        if (w->user_id != p.user_id) return forbidden("this workstation belongs to another user");
        WorkstationRepository::remove(tx, w->id);
        AuditRepository::append(tx, {p.username, "workstation.deleted", "workstation", w->id,
                                     {{"name", w->name}, {"fingerprint", w->fingerprint}}},
                                now_millis());
        removed = std::move(*w);
        return {};
    }));
    if (on_removed) on_removed(removed);
    return {};
}

bool WorkstationService::connected(const std::string& id, Millis fresh_ms) {
    if (online && online(id)) return true;
    bool fresh = false;
    (void)db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        auto w = WorkstationRepository::find(tx, id);
        fresh = w && !w->disconnected_at && w->last_seen && *w->last_seen >= now_millis() - fresh_ms;
        return {};
    });
    return fresh;
}

Result<bool> WorkstationService::exists(const std::string& id) {
    return db_.transact<bool>(sql::TxMode::lookup, [&](sql::Tx& tx) -> Result<bool> {
        return WorkstationRepository::find(tx, id).has_value();
    });
}

Result<WorkstationRecord> WorkstationService::owned(const Principal& p, const std::string& id) {
    if (!is_uuid(id)) return bad_request("workstation_id must be a UUID");
    return db_.transact<WorkstationRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<WorkstationRecord> {
        auto w = WorkstationRepository::find(tx, to_lower_uuid(id));
        if (!w || w->user_id != p.user_id) return forbidden("workstation_id is not one of your workstations");
        return std::move(*w);
    });
}

void WorkstationService::seen(const std::vector<std::string>& ids) {
    std::lock_guard lk(presence_mu_);
    std::vector<std::string> still;
    for (const auto& id : ids)
        if (!online || online(id)) still.push_back(id);
    if (still.empty()) return;
    auto st = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        WorkstationRepository::seen(tx, still, now_millis());
        return {};
    });
    if (!st.ok()) log::warn("could not record workstation presence", {{"error", st.error().message}});
}

void WorkstationService::disconnected(const std::string& id) {
    std::lock_guard lk(presence_mu_);
    if (online && online(id)) return;  // it reconnected meanwhile
    auto st = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        WorkstationRepository::disconnected(tx, id, now_millis());
        return {};
    });
    if (!st.ok()) log::warn("could not record a workstation disconnect", {{"error", st.error().message}});
}

}  // namespace silo
