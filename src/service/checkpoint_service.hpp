// Checkpoints (API.md §6): working snapshots kept beside revisions, in the BlobStore. Create
// (optionally ending the caller's edit session in the same transaction), list, latest,
// metadata, download, delete; TTL and the per-item-per-user cap (pinned ones excepted); the
// orphan-file sweep. Thread-safe.
#pragma once

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "service/events.hpp"
#include "service/session_service.hpp"
#include "storage/blob_store.hpp"
#include "storage/checkpoint_repository.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace silo {

struct CheckpointInput {
    std::string context;  // sketch_close | body_close | assembly_close | manual | autosave
    std::int64_t base_revision = 0;
    std::string session_id;  // '' or a session of the caller on this item, released in the same transaction
};

inline constexpr const char* kForceReleaseContext = "force_release";

class CheckpointService {
public:
    CheckpointService(sql::Database& db, EventNotifier& events, BlobStore& blobs, SessionService& sessions,
                      SessionsModuleConfig cfg, int orphan_grace_minutes)
        : db_(db), events_(events), blobs_(blobs), sessions_(sessions), cfg_(std::move(cfg)),
          orphan_grace_minutes_(orphan_grace_minutes) {}

    // Stores the finished temporary upload `temp_file` as a checkpoint. 400 bad context or
    // base_revision (above the item's revision); 404 unknown item or session_id not an active
    // session of the item; 403 a session of another user.
    Result<CheckpointRecord> create(const Principal& p, const std::string& part_number, const CheckpointInput& in,
                                    const std::string& temp_file);
    // Active checkpoints of an item, newest first; username '' for any.
    Result<CheckpointPage> list(const std::string& part_number, const std::string& username, std::int64_t limit,
                                std::int64_t offset);
    // 404 when the item has none (of that user).
    Result<CheckpointRecord> latest(const std::string& part_number, const std::string& username);
    // 404 when not an active checkpoint of that item.
    Result<CheckpointRecord> get(const std::string& part_number, const std::string& id);
    // The file of a checkpoint (its path in the store).
    std::string file_path(const CheckpointRecord& c) const { return blobs_.path(c.blob_key); }
    // The owner or an admin (403 otherwise).
    Status remove(const Principal& p, const std::string& part_number, const std::string& id);

    // A session that ends without its holder's say (force-release; the sweeper: `expired`,
    // `disconnected`; its workstation removed, its user deactivated) keeps the holder's
    // uploaded work as a checkpoint: sets SessionService::keep_work. Call once.
    void install_hooks();

    // Expired and over-cap checkpoints, and orphan files. Never throws.
    void sweep();

private:
    // Inside the transaction that ends session s: a checkpoint of its work (context
    // `force_release`, pinned; or the release reason, with the TTL and cap of any checkpoint). The file is hard-linked into the store first; if the
    // transaction does not commit, the link is an orphan for the sweep. Emits checkpoint.created.
    Result<CheckpointRecord> preserve_work_in(sql::Tx& tx, const SessionRecord& s, const SessionRepository::Work& work,
                                              const std::string& context);
    void remove_blobs(const std::vector<CheckpointRecord>& gone);
    // checkpoint.created, to the item's audience.
    void emit_created(sql::Tx& tx, const CheckpointRecord& c);

    sql::Database& db_;
    EventNotifier& events_;
    BlobStore& blobs_;
    SessionService& sessions_;
    SessionsModuleConfig cfg_;
    int orphan_grace_minutes_;
};

// Checkpoint JSON (API.md §6).
nlohmann::json checkpoint_json(const CheckpointRecord& c);

}  // namespace silo
