#include "service/checkpoint_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json_null.hpp"
#include "core/log.hpp"
#include "domain/part_number.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"
#include "service/item_service.hpp"
#include "storage/item_repository.hpp"
#include "storage/session_repository.hpp"

#include <array>

namespace silo {

namespace {

constexpr std::array<const char*, 5> kContexts = {"sketch_close", "body_close", "assembly_close", "manual", "autosave"};
constexpr std::int64_t kSweepBatch = 500;

bool valid_context(const std::string& c) {
    for (const auto* k : kContexts)
        if (c == k) return true;
    return false;
}

Error checkpoint_not_found(const std::string& id) { return not_found("no checkpoint " + id + " on this item"); }


}  // namespace

nlohmann::json checkpoint_json(const CheckpointRecord& c) {
    return {{"id", c.id},
            {"item_id", c.item_id},
            {"part_number", c.part_number},
            {"user", c.username},
            {"base_revision", c.base_revision},
            {"context", c.context},
            {"storage_mode", c.storage_mode},
            {"file_hash", c.file_hash},
            {"file_size", c.file_size},
            {"pinned", c.pinned},
            {"created_at", format_rfc3339(c.created_at)},
            {"expires_at", time_or_null_if_zero(c.expires_at)}};
}

Result<CheckpointRecord> CheckpointService::create(const Principal& p, const std::string& part_number,
                                                   const CheckpointInput& in, const std::string& temp_file) {
    if (!valid_context(in.context))
        return bad_request("context must be one of sketch_close, body_close, assembly_close, manual, autosave");
    if (in.base_revision < 0) return bad_request("base_revision must be a revision number (0 or more)");
    if (!in.session_id.empty() && !is_uuid(in.session_id)) return not_found("no active edit session " + in.session_id + " on this item");
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    SILO_TRY(auto blob, blobs_.put(temp_file, "checkpoints"));

    std::vector<CheckpointRecord> trimmed;
    std::optional<std::string> work;
    auto r = transact_as<CheckpointRecord>(db_, p, [&](sql::Tx& tx) -> Result<CheckpointRecord> {
        trimmed.clear();
        work.reset();
        SILO_TRY(auto item, live_item(tx, part_number));
        if (in.base_revision > item.revision)
            return bad_request("base_revision " + std::to_string(in.base_revision) + " is above the item's revision " +
                               std::to_string(item.revision));
        CheckpointRecord c;
        c.id = new_uuid();
        c.item_id = item.id;
        c.part_number = item.part_number;
        c.user_id = p.user_id;
        c.username = p.username;
        c.base_revision = in.base_revision;
        c.context = in.context;
        c.blob_key = blob.key;
        c.file_size = blob.size;
        c.file_hash = blob.sha256;
        c.created_at = now_millis();
        c.expires_at = c.created_at + static_cast<Millis>(cfg_.checkpoint_ttl_hours) * 3600 * 1000;
        if (!in.session_id.empty()) {
            auto s = SessionRepository::find(tx, to_lower_uuid(in.session_id));
            if (!s || s->item_id != item.id) return not_found("no active edit session " + in.session_id + " on this item");
            if (s->user_id != p.user_id) return forbidden("only the holder may end this session with a checkpoint");
            auto ended = sessions_.release_in(tx, *s, kCheckpoint, p.username, {{"checkpoint_id", c.id}});
            if (ended) work = ended->work_path;
            if (!work) return not_found("no active edit session " + in.session_id + " on this item");
        }
        CheckpointRepository::insert(tx, c);
        trimmed = CheckpointRepository::over_cap(tx, item.id, p.user_id, cfg_.checkpoint_max_per_item);
        for (const auto& old : trimmed) CheckpointRepository::remove(tx, old.id);
        AuditRepository::append(tx, {p.username, "checkpoint.created", "checkpoint", c.id,
                                     {{"part_number", c.part_number}, {"context", c.context},
                                      {"base_revision", c.base_revision}, {"file_hash", c.file_hash},
                                      {"file_size", c.file_size}, {"session_id", in.session_id}}},
                                c.created_at);
        emit_created(tx, c);
        return c;
    });
    if (!r.ok()) {
        blobs_.remove(blob.key);
        return r;
    }
    events_.committed();
    remove_blobs(trimmed);
    if (work && !work->empty()) SessionService::remove_file(*work);
    return r;
}

Result<CheckpointPage> CheckpointService::list(const std::string& part_number, const std::string& username,
                                               std::int64_t limit, std::int64_t offset) {
    return db_.transact<CheckpointPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<CheckpointPage> {
        SILO_TRY(auto item, live_item(tx, part_number));
        return CheckpointRepository::list(tx, item.id, username, now_millis(), limit, offset);
    });
}

Result<CheckpointRecord> CheckpointService::latest(const std::string& part_number, const std::string& username) {
    SILO_TRY(auto page, list(part_number, username, 1, 0));
    if (page.checkpoints.empty())
        return not_found(username.empty() ? "the item has no checkpoints" : "the item has no checkpoints of " + username);
    return std::move(page.checkpoints.front());
}

Result<CheckpointRecord> CheckpointService::get(const std::string& part_number, const std::string& id) {
    if (!is_uuid(id)) return checkpoint_not_found(id);
    return db_.transact<CheckpointRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<CheckpointRecord> {
        SILO_TRY(auto item, live_item(tx, part_number));
        auto c = CheckpointRepository::find(tx, to_lower_uuid(id));
        if (!c || c->item_id != item.id || (!c->pinned && c->expires_at <= now_millis())) return checkpoint_not_found(id);
        return std::move(*c);
    });
}

Status CheckpointService::remove(const Principal& p, const std::string& part_number, const std::string& id) {
    SILO_TRY(auto c, get(part_number, id));
    if (c.user_id != p.user_id && p.role != Role::admin) return forbidden("only the owner or an admin may delete a checkpoint");
    SILO_CHECK(transact_as(db_, p, [&](sql::Tx& tx) -> Status {
        if (!CheckpointRepository::remove(tx, c.id)) return checkpoint_not_found(id);
        AuditRepository::append(tx, {p.username, "checkpoint.deleted", "checkpoint", c.id,
                                     {{"part_number", c.part_number}, {"owner", c.username}, {"context", c.context},
                                      {"pinned", c.pinned}}},
                                now_millis());
        return {};
    }));
    blobs_.remove(c.blob_key);
    return {};
}

void CheckpointService::install_hooks() {
    sessions_.keep_work = [this](sql::Tx& tx, const SessionRecord& s, const SessionRepository::Work& work,
                                 const std::string& reason) -> Result<std::string> {
        auto c = preserve_work_in(tx, s, work, reason == kForceReleased ? kForceReleaseContext : reason);
        if (c.ok()) return c->id;
        log::error("the session's work could not be preserved", {{"session_id", s.id}, {"error", c.error().message}});
        return c.error();
    };
}

Result<CheckpointRecord> CheckpointService::preserve_work_in(sql::Tx& tx, const SessionRecord& s,
                                                             const SessionRepository::Work& work,
                                                             const std::string& context) {
    SILO_TRY(auto blob, blobs_.link(work.path, "checkpoints", work.size, work.hash));
    auto item = ItemRepository::find_by_id(tx, s.item_id);
    CheckpointRecord c;
    c.id = new_uuid();
    c.item_id = s.item_id;
    c.part_number = s.part_number;
    c.user_id = s.user_id;
    c.username = s.username;
    c.base_revision = item ? item->revision : 0;
    c.context = context;
    c.blob_key = blob.key;
    c.file_size = blob.size;
    c.file_hash = blob.sha256;
    // An admin's force-release is pinned (API.md §7); what the sweeper kept follows the TTL and
    // the per-user cap like any checkpoint, so a workstation that keeps dropping off cannot
    // fill the store.
    c.pinned = context == kForceReleaseContext;
    c.created_at = now_millis();
    c.expires_at = c.pinned ? 0 : c.created_at + static_cast<Millis>(cfg_.checkpoint_ttl_hours) * 3600 * 1000;
    CheckpointRepository::insert(tx, c);
    emit_created(tx, c);
    return c;
}

void CheckpointService::emit_created(sql::Tx& tx, const CheckpointRecord& c) {
    emit(tx, "checkpoint.created", Audience::item, c.item_id,
         {{"item_id", c.item_id}, {"part_number", c.part_number}, {"checkpoint_id", c.id}, {"user", c.username},
          {"context", c.context}, {"base_revision", c.base_revision}});
}

void CheckpointService::remove_blobs(const std::vector<CheckpointRecord>& gone) {
    for (const auto& c : gone) blobs_.remove(c.blob_key);
}

void CheckpointService::sweep() {
    std::vector<CheckpointRecord> gone;
    auto st = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        gone = CheckpointRepository::expired(tx, now_millis(), kSweepBatch);
        for (const auto& [item_id, user_id] : CheckpointRepository::crowded(tx, cfg_.checkpoint_max_per_item)) {
            auto extra = CheckpointRepository::over_cap(tx, item_id, user_id, cfg_.checkpoint_max_per_item);
            gone.insert(gone.end(), extra.begin(), extra.end());
        }
        for (const auto& c : gone) CheckpointRepository::remove(tx, c.id);
        return {};
    });
    if (!st.ok()) {
        log::warn("checkpoint sweep failed", {{"error", st.error().message}});
        return;
    }
    remove_blobs(gone);
    if (!gone.empty()) log::info("checkpoints expired", {{"count", static_cast<std::int64_t>(gone.size())}});
    blobs_.sweep_orphans("checkpoints", now_millis() - static_cast<Millis>(orphan_grace_minutes_) * 60 * 1000, db_,
                         &CheckpointRepository::blob_referenced);
}

}  // namespace silo
