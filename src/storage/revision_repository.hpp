// Item revisions (API.md §2): numbered files of an item. Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct RevisionRecord {
    std::string item_id;
    std::int64_t revision_number = 0;
    std::string comment;
    std::string blob_key;
    std::int64_t file_size = 0;
    std::string file_hash;
    Millis created_at = 0;
    std::string created_by;
};

class RevisionRepository {
public:
    // Moves the live item to its next revision number and returns it (the item row's update
    // serialises concurrent uploads); nullopt when the item is gone.
    static std::optional<std::int64_t> bump(sql::Tx& tx, std::string_view item_id, Millis now);
    static void insert(sql::Tx& tx, const RevisionRecord& r);
    static std::optional<RevisionRecord> find(sql::Tx& tx, std::string_view item_id, std::int64_t number);
    // Newest first.
    static std::vector<RevisionRecord> list(sql::Tx& tx, std::string_view item_id, std::int64_t limit,
                                            std::int64_t offset);
    static std::int64_t count(sql::Tx& tx, std::string_view item_id);
    static bool blob_referenced(sql::Tx& tx, std::string_view blob_key);
};

}  // namespace silo
