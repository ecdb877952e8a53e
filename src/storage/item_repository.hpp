// Items and part-number sequences: the SQL behind the items API (API.md §2).
//
// Every method runs inside the caller's transaction and throws sql::DbError on a database
// failure (the transaction boundary turns it into an Error); none of them leaves a PostgreSQL
// transaction aborted on an expected outcome (a taken part number, a missing item). Part numbers
// are matched case-insensitively through part_number_key, their lower-case form; archived items
// keep their part number taken. Stateless; safe to call from any thread with its own Tx.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "storage/sql.hpp"

namespace silo {

struct ItemRecord {
    std::string id, part_number, item_type, description;
    std::int64_t revision = 0;
    Millis created_at = 0;
    std::string created_by;
    Millis updated_at = 0;
};

struct ItemPage {
    std::vector<ItemRecord> items;
    std::int64_t total = 0;  // all matches, regardless of limit and offset
};

class ItemRepository {
  public:
    // Inserts item. False (and nothing written) when its part number is already taken,
    // compared case-insensitively and counting archived items. Needs a write transaction.
    static bool insert(sql::Tx& tx, const ItemRecord& item);

    // The live (not archived) item with this part number, compared case-insensitively.
    static std::optional<ItemRecord> find_by_part_number(sql::Tx& tx, std::string_view pn);

    // The same, locked against archiving (and other change) until the transaction ends
    // (PostgreSQL FOR SHARE; SQLite's write lock already serialises): what a write that must
    // not land on an item being archived reads. Needs a write transaction.
    static std::optional<ItemRecord> lock_by_part_number(sql::Tx& tx, std::string_view pn);

    // The live (not archived) item with this id.
    static std::optional<ItemRecord> find_by_id(sql::Tx& tx, std::string_view id);

    // Live items whose part number or description contains q (case-insensitive; '%', '_' and
    // '\' in q are literal; an empty q matches all), ordered by part_number_key, at most limit
    // of them after skipping offset (negative values count as 0); total counts every match.
    static ItemPage list(sql::Tx& tx, std::string_view q, std::int64_t limit, std::int64_t offset);

    // Sets description, item_type, revision and updated_at of the live item item.id.
    // False when there is no such live item. Needs a write transaction.
    static bool update(sql::Tx& tx, const ItemRecord& item);

    // Archives the live item id at time at (its part number stays taken). False when there is
    // no such live item. Needs a write transaction.
    static bool archive(sql::Tx& tx, std::string_view id, Millis at);

    // Atomically increments the (schema, prefix) sequence and returns its new value: 1 on first
    // use, then 2, 3, ... Never repeats a value, also under concurrent callers in separate
    // transactions (the row lock of the upsert orders them). Needs a write transaction.
    static std::int64_t next_sequence(sql::Tx& tx, std::string_view schema,
                                      std::string_view prefix);
};

}  // namespace silo
