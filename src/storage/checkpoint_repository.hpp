// Checkpoints (API.md §6): rows naming a file in the BlobStore. Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct CheckpointRecord {
    std::string id;
    std::string item_id;
    std::string part_number;  // filled by reads (join with items)
    std::string user_id;
    std::string username;
    std::int64_t base_revision = 0;
    std::string context;  // sketch_close | body_close | assembly_close | manual | autosave | force_release
    std::string storage_mode = "full";
    std::string blob_key;
    std::int64_t file_size = 0;
    std::string file_hash;
    bool pinned = false;
    Millis created_at = 0;
    Millis expires_at = 0;  // 0: never (pinned)
};

struct CheckpointPage {
    std::vector<CheckpointRecord> checkpoints;
    std::int64_t total = 0;
};

class CheckpointRepository {
public:
    static void insert(sql::Tx& tx, const CheckpointRecord& c);
    static std::optional<CheckpointRecord> find(sql::Tx& tx, std::string_view id);
    // Active (unexpired at `now`) checkpoints of an item, newest first; username '' for any.
    static CheckpointPage list(sql::Tx& tx, std::string_view item_id, std::string_view username, Millis now,
                               std::int64_t limit, std::int64_t offset);
    // The newest checkpoint of a user on an item created at or after `since` (force-release).
    static std::optional<CheckpointRecord> newest_since(sql::Tx& tx, std::string_view item_id,
                                                        std::string_view user_id, Millis since);
    // Deletes the row; false when it was already gone.
    static bool remove(sql::Tx& tx, std::string_view id);
    // Unpinned checkpoints of (item, user) beyond the newest `keep` unpinned ones.
    static std::vector<CheckpointRecord> over_cap(sql::Tx& tx, std::string_view item_id, std::string_view user_id,
                                                  std::int64_t keep);
    // (item, user) pairs holding more than `keep` unpinned checkpoints.
    static std::vector<std::pair<std::string, std::string>> crowded(sql::Tx& tx, std::int64_t keep);
    // Unpinned checkpoints that expired before `now`.
    static std::vector<CheckpointRecord> expired(sql::Tx& tx, Millis now, std::int64_t limit);
    static bool blob_referenced(sql::Tx& tx, std::string_view blob_key);
};

}  // namespace silo
