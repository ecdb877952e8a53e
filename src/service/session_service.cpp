#include "service/session_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"
#include "storage/blob_store.hpp"
#include "service/item_service.hpp"
#include "storage/item_repository.hpp"
#include "storage/workstation_repository.hpp"

#include <filesystem>

namespace fs = std::filesystem;

namespace silo {

namespace {

constexpr std::size_t kMaxObjectId = 256;
constexpr std::size_t kMaxConeNodes = 10000;
constexpr std::size_t kMaxNodeKey = 512;

Error session_not_found(const std::string& id) { return not_found("no active edit session " + id + " on this item"); }

nlohmann::json conflicts_json(const std::vector<SoftConflict>& conflicts) {
    auto arr = nlohmann::json::array();
    for (const auto& c : conflicts)
        arr.push_back({{"session_id", c.session_id}, {"user", c.username}, {"object_id", c.object_id},
                       {"shared_nodes", c.shared_nodes}});
    return arr;
}

std::vector<ConeHolder> holders(const std::vector<SessionRecord>& sessions, const std::string& except_id) {
    std::vector<ConeHolder> out;
    for (const auto& s : sessions)
        if (s.id != except_id) out.push_back({s.id, s.username, s.object_id, s.dependency_cone});
    return out;
}

}  // namespace

nlohmann::json session_json(const SessionRecord& s) {
    return {{"id", s.id},
            {"item_id", s.item_id},
            {"part_number", s.part_number},
            {"user", s.username},
            {"workstation_id", s.workstation_id},
            {"context_level", s.context_level},
            {"object_id", s.object_id},
            {"dependency_cone", s.dependency_cone},
            {"acquired_at", format_rfc3339(s.acquired_at)},
            {"last_heartbeat", format_rfc3339(s.last_heartbeat)}};
}

Result<AcquireResult> SessionService::acquire(const Principal& p, const std::string& part_number,
                                              const AcquireInput& in) {
    if (!valid_context_level(in.context_level))
        return bad_request("context_level must be one of sketch, partdesign, assembly");
    if (blank(in.object_id) || in.object_id.size() > kMaxObjectId)
        return bad_request("object_id must be 1 to 256 characters");
    if (!is_uuid(in.workstation_id)) return bad_request("workstation_id must be a UUID");
    if (in.dependency_cone.size() > kMaxConeNodes) return bad_request("dependency_cone has too many node keys");
    for (const auto& n : in.dependency_cone)
        if (n.empty() || n.size() > kMaxNodeKey) return bad_request("dependency_cone node keys must be 1 to 512 characters");
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto r = transact_as<AcquireResult>(db_, p, [&](sql::Tx& tx) -> Result<AcquireResult> {
        SILO_TRY(auto item, locked_live_item(tx, part_number));  // not archived meanwhile
        auto ws = WorkstationRepository::find(tx, to_lower_uuid(in.workstation_id));
        if (!ws || ws->user_id != p.user_id) return forbidden("workstation_id is not one of your workstations");
        AcquireResult out;
        auto& s = out.session;
        s.id = new_uuid();
        s.item_id = item.id;
        s.part_number = item.part_number;
        s.user_id = p.user_id;
        s.username = p.username;
        s.workstation_id = ws->id;
        s.context_level = in.context_level;
        s.object_id = in.object_id;
        s.dependency_cone = in.dependency_cone;
        s.acquired_at = s.last_heartbeat = now_millis();
        if (!SessionRepository::insert(tx, s)) {
            auto holder = SessionRepository::find_holder(tx, item.id, in.context_level, in.object_id);
            nlohmann::json extra = nlohmann::json::object();
            if (holder) extra["holder"] = session_json(*holder);
            return Error(Errc::hard_interference,
                         "'" + in.object_id + "' (" + in.context_level + ") of " + item.part_number + " is being edited" +
                             (holder ? " by " + holder->username : std::string()),
                         extra);
        }
        if (!s.dependency_cone.empty())  // no node keys: nothing can be shared
            out.conflicts = soft_conflicts(s.dependency_cone, holders(SessionRepository::list(tx, {item.id, "", ""}), s.id));
        const char* interference = out.conflicts.empty() ? "none" : "soft";
        AuditRepository::append(tx, {p.username, "edit.session_acquired", "edit_session", s.id,
                                     {{"part_number", s.part_number}, {"workstation_id", s.workstation_id},
                                      {"context_level", s.context_level}, {"object_id", s.object_id},
                                      {"interference", interference}}},
                                s.acquired_at);
        emit(tx, "edit.session_acquired", Audience::item, s.item_id,
             {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", s.id}, {"user", s.username},
              {"workstation_id", s.workstation_id}, {"context_level", s.context_level}, {"object_id", s.object_id},
              {"interference", interference}, {"conflicts", conflicts_json(out.conflicts)}});
        return out;
    });
    if (r.ok()) events_.committed();
    return r;
}

Result<std::vector<SessionRecord>> SessionService::list_for_item(const std::string& part_number) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    return db_.transact<std::vector<SessionRecord>>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<std::vector<SessionRecord>> {
        SILO_TRY(auto item, live_item(tx, part_number));
        return SessionRepository::list(tx, {item.id, "", ""});
    });
}

Result<std::vector<SessionRecord>> SessionService::list_all(const SessionFilter& filter) {
    return db_.transact<std::vector<SessionRecord>>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<std::vector<SessionRecord>> {
        return SessionRepository::list(tx, filter);
    });
}

Result<SessionRecord> SessionService::get(const std::string& part_number, const std::string& session_id) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    if (!is_uuid(session_id)) return session_not_found(session_id);
    return db_.transact<SessionRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<SessionRecord> {
        SILO_TRY(auto item, live_item(tx, part_number));
        auto s = SessionRepository::find(tx, to_lower_uuid(session_id));
        if (!s || s->item_id != item.id) return session_not_found(session_id);
        return std::move(*s);
    });
}

std::optional<SessionService::Ended> SessionService::release_in(sql::Tx& tx, const SessionRecord& s,
                                                                const std::string& reason, const std::string& actor,
                                                                nlohmann::json audit_details) {
    // The hooks run before the delete so that this transaction takes its locks in the order a
    // force-release approval's signature does (approval, request row, session): the two never
    // deadlock. When the session turns out to be gone, the caller rolls back or the hooks
    // found nothing left to settle.
    for (auto& hook : on_end) hook(tx, s, reason);
    auto work = SessionRepository::remove(tx, s.id);
    if (!work) return std::nullopt;
    Ended ended;
    ended.work_path = work->path;
    const bool by_holder = reason == kReleased || reason == kCheckpoint;
    if (!by_holder && !work->path.empty() && keep_work) {
        auto kept = keep_work(tx, s, *work, reason);
        if (kept)
            ended.kept_checkpoint_id = std::move(*kept);
        else
            ended.keep_error = kept.error();
    }
    Millis now = now_millis();
    emit(tx, "edit.session_released", Audience::item, s.item_id,
         {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", s.id}, {"user", s.username},
          {"workstation_id", s.workstation_id}, {"context_level", s.context_level}, {"object_id", s.object_id},
          {"reason", reason}});
    // Sessions that shared node keys with this one: their conflict is gone.
    std::vector<SessionRecord> others;
    if (!s.dependency_cone.empty()) others = SessionRepository::list(tx, {s.item_id, "", ""});
    std::vector<ConeHolder> mine{{s.id, s.username, s.object_id, s.dependency_cone}};
    for (const auto& o : others) {
        if (soft_conflicts(o.dependency_cone, mine).empty()) continue;
        emit(tx, "edit.interference_resolved", Audience::workstation, o.workstation_id,
             {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", o.id}, {"resolved_session_id", s.id}});
    }
    if (!audit_details.is_object()) audit_details = nlohmann::json::object();
    audit_details["part_number"] = s.part_number;
    audit_details["holder"] = s.username;
    audit_details["workstation_id"] = s.workstation_id;
    audit_details["context_level"] = s.context_level;
    audit_details["object_id"] = s.object_id;
    audit_details["reason"] = reason;
    if (ended.kept_checkpoint_id) audit_details["checkpoint_id"] = *ended.kept_checkpoint_id;
    AuditRepository::append(tx, {actor, reason == kExpired ? "edit.session_expired" : "edit.session_released",
                                 "edit_session", s.id, audit_details},
                            now);
    return ended;
}

Status SessionService::release(const Principal& p, const std::string& part_number, const std::string& session_id) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    if (!is_uuid(session_id)) return session_not_found(session_id);
    std::optional<std::string> work;
    SILO_CHECK(transact_as(db_, p, [&](sql::Tx& tx) -> Status {
        auto s = SessionRepository::find(tx, to_lower_uuid(session_id));
        if (!s || part_number_key(s->part_number) != part_number_key(part_number)) {
            if (!ItemRepository::find_by_part_number(tx, part_number)) return item_not_found(part_number);
            return session_not_found(session_id);
        }
        if (s->user_id != p.user_id) return forbidden("only the holder may release this session");
        if (auto ended = release_in(tx, *s, kReleased, p.username)) work = ended->work_path;
        if (!work) return session_not_found(session_id);
        return {};
    }));
    events_.committed();
    remove_file(*work);
    return {};
}

Result<SessionRecord> SessionService::put_work(const Principal& p, const std::string& part_number,
                                               const std::string& session_id, const std::string& temp_file) {
    SILO_TRY(auto s, get(part_number, session_id));
    if (s.user_id != p.user_id) return forbidden("only the holder may upload work for this session");
    std::error_code ec;
    fs::create_directories(work_dir_, ec);
    auto size = static_cast<std::int64_t>(fs::file_size(temp_file, ec));
    if (ec) return internal_error("the upload could not be read");
    SILO_TRY(auto hash, hash_and_sync(temp_file));
    auto dest = (fs::path(work_dir_) / (s.id + "-" + random_hex(8) + ".work")).string();
    fs::rename(temp_file, dest, ec);
    if (ec) return file_write_error(ec.value(), "the upload could not be stored");
    std::string previous;
    auto r = transact_as<SessionRecord>(db_, p, [&](sql::Tx& tx) -> Result<SessionRecord> {
        auto cur = SessionRepository::find(tx, s.id);
        if (!cur) return session_not_found(session_id);
        previous = cur->work_path;
        // Ended since the read (PostgreSQL): refused, so no acknowledged upload is ever lost.
        if (!SessionRepository::set_work(tx, s.id, dest, size, hash)) return session_not_found(session_id);
        cur->work_path = dest;
        cur->work_size = size;
        cur->work_hash = hash;
        return std::move(*cur);
    });
    remove_file(r.ok() ? previous : dest);
    return r;
}

void SessionService::heartbeat(const std::vector<std::string>& workstation_ids) {
    if (workstation_ids.empty()) return;
    auto st = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        SessionRepository::heartbeat(tx, workstation_ids, now_millis());
        return {};
    });
    if (!st.ok()) log::warn("session heartbeat failed", {{"error", st.error().message}});
}

void SessionService::release_many(const std::vector<SessionRecord>& sessions, const std::string& reason,
                                  const std::string& actor, const StillDue& still_due) {
    for (const auto& s : sessions) {
        std::optional<std::string> work;
        bool gone = false;
        bool unkept = false;
        auto st = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
            work.reset();  // a retried attempt starts afresh
            gone = unkept = false;
            if (still_due && !still_due(tx, s.id)) return {};
            auto ended = release_in(tx, s, reason, actor);
            if (!ended) {  // ended meanwhile: roll back what the on_end hooks wrote
                gone = true;
                return Error(Errc::conflict, "the session ended meanwhile");
            }
            if (ended->keep_error && (ended->keep_error->code == Errc::insufficient_storage ||
                                      ended->keep_error->code == Errc::unavailable)) {
                // The file store cannot take the holder's work now (full, read-only): the
                // session stays until a later sweep can keep it, rather than lose the work. A
                // work file that is gone or unreadable cannot come back: released without it.
                unkept = true;
                return *ended->keep_error;
            }
            work = ended->work_path;
            return {};
        });
        if (gone) continue;
        if (unkept) {
            log::warn("session kept for a later sweep: its work cannot be preserved now",
                      {{"session_id", s.id}, {"reason", reason}, {"error", st.error().message}});
            continue;
        }
        if (!st.ok()) {
            log::warn("releasing a session failed", {{"session_id", s.id}, {"error", st.error().message}});
            continue;
        }
        if (work) {
            events_.committed();
            remove_file(*work);
            log::info("session released", {{"session_id", s.id}, {"reason", reason}});
        }
    }
}

void SessionService::sweep() {
    Millis now = now_millis();
    const Millis idle_before = now - static_cast<Millis>(cfg_.session_timeout_minutes) * 60 * 1000;
    const Millis gone_before = now - static_cast<Millis>(cfg_.disconnect_grace_seconds) * 1000;
    std::vector<SessionRecord> expired, gone;
    auto st = db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        expired = SessionRepository::expired(tx, idle_before);
        gone = SessionRepository::disconnected(tx, gone_before);
        return {};
    });
    if (!st.ok()) {
        log::warn("session sweep failed", {{"error", st.error().message}});
        return;
    }
    // Each is checked again where it is released: a heartbeat or a reconnect since the read
    // keeps it.
    release_many(expired, kExpired, "system", [idle_before](sql::Tx& tx, const std::string& id) {
        return SessionRepository::still_expired(tx, id, idle_before);
    });
    release_many(gone, kDisconnected, "system", [gone_before](sql::Tx& tx, const std::string& id) {
        return SessionRepository::still_disconnected(tx, id, gone_before);
    });
}

void SessionService::sweep_work_files(Millis before) {
    remove_unreferenced_files(work_dir_, before, db_, [](sql::Tx& tx, const std::string& path) {
        return SessionRepository::work_referenced(tx, path);
    });
}

void SessionService::release_workstation(const std::string& workstation_id, const std::string& actor) {
    auto list = list_all({"", "", workstation_id});
    if (list.ok()) release_many(*list, kDisconnected, actor);
}

void SessionService::release_user(const std::string& user_id, const std::string& actor) {
    std::vector<SessionRecord> mine;
    auto all = list_all({});
    if (!all.ok()) return;
    for (auto& s : *all)
        if (s.user_id == user_id) mine.push_back(std::move(s));
    release_many(mine, kDisconnected, actor);
}

std::vector<std::pair<std::string, std::string>> SessionService::held_sessions(const std::string& workstation_id) {
    std::vector<std::pair<std::string, std::string>> out;
    (void)db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        out = SessionRepository::held_sessions(tx, workstation_id);
        return {};
    });
    return out;
}

void SessionService::remove_file(const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove(path, ec);
}

}  // namespace silo
