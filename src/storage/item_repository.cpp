#include "storage/item_repository.hpp"

#include <algorithm>

#include "core/strings.hpp"

namespace silo {

namespace {

// The same SQL serves both dialects (SQLite >= 3.35 has upserts and RETURNING); LIKE patterns
// escape with '\', which PostgreSQL reads literally under standard_conforming_strings (the
// default since 9.1).

constexpr const char* kColumns =
    "id, part_number, item_type, description, revision, created_at, created_by, updated_at";

constexpr const char* kInsert =
    "INSERT INTO items (id, part_number, part_number_key, item_type, description, revision, "
    "created_at, created_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (part_number_key) DO NOTHING RETURNING id";

const std::string kFindByKey = std::string("SELECT ") + kColumns +
                               " FROM items WHERE part_number_key = $1 AND archived_at IS NULL";

const std::string kFindById =
    std::string("SELECT ") + kColumns + " FROM items WHERE id = $1 AND archived_at IS NULL";

const std::string kListAll = std::string("SELECT ") + kColumns +
                             " FROM items WHERE archived_at IS NULL"
                             " ORDER BY part_number_key LIMIT $1 OFFSET $2";

constexpr const char* kCountAll = "SELECT COUNT(*) FROM items WHERE archived_at IS NULL";

// $1 is a LIKE pattern; lower() runs on both sides so that the database's own case folding
// decides, consistently.
constexpr const char* kMatchCondition =
    " FROM items WHERE archived_at IS NULL"
    " AND (part_number_key LIKE lower($1) ESCAPE '\\'"
    " OR lower(description) LIKE lower($1) ESCAPE '\\')";

const std::string kListMatching = std::string("SELECT ") + kColumns + kMatchCondition +
                                  " ORDER BY part_number_key LIMIT $2 OFFSET $3";

const std::string kCountMatching = std::string("SELECT COUNT(*)") + kMatchCondition;

constexpr const char* kUpdate =
    "UPDATE items SET description = $2, item_type = $3, revision = $4, updated_at = $5"
    " WHERE id = $1 AND archived_at IS NULL";

constexpr const char* kArchive =
    "UPDATE items SET archived_at = $2, updated_at = $2 WHERE id = $1 AND archived_at IS NULL";

constexpr const char* kNextSequence =
    "INSERT INTO part_number_sequences (schema_name, prefix, value) VALUES ($1, $2, 1)"
    " ON CONFLICT (schema_name, prefix)"
    " DO UPDATE SET value = part_number_sequences.value + 1 RETURNING value";

ItemRecord to_item(const sql::Row& r) {
    ItemRecord item;
    item.id = r.str(0);
    item.part_number = r.str(1);
    item.item_type = r.str(2);
    item.description = r.str(3);
    item.revision = r.i64(4);
    item.created_at = r.i64(5);
    item.created_by = r.str(6);
    item.updated_at = r.i64(7);
    return item;
}

// "%<q with %, _ and \ escaped>%"
std::string contains_pattern(std::string_view q) {
    std::string p = "%";
    for (char c : q) {
        if (c == '%' || c == '_' || c == '\\') p.push_back('\\');
        p.push_back(c);
    }
    p.push_back('%');
    return p;
}

std::optional<ItemRecord> find_one(sql::Tx& tx, const std::string& sql, std::string key) {
    auto row = tx.query_one(sql, {std::move(key)});
    if (!row) return std::nullopt;
    return to_item(*row);
}

}  // namespace

bool ItemRepository::insert(sql::Tx& tx, const ItemRecord& item) {
    auto rows = tx.query(kInsert, {item.id, item.part_number, to_lower(item.part_number),
                                   item.item_type, item.description, item.revision, item.created_at,
                                   item.created_by, item.updated_at});
    return !rows.empty();
}

std::optional<ItemRecord> ItemRepository::find_by_part_number(sql::Tx& tx, std::string_view pn) {
    return find_one(tx, kFindByKey, to_lower(pn));
}

std::optional<ItemRecord> ItemRepository::lock_by_part_number(sql::Tx& tx, std::string_view pn) {
    static const std::string kLockByKey = kFindByKey + " FOR SHARE";
    return find_one(tx, tx.dialect() == sql::Dialect::postgres ? kLockByKey : kFindByKey, to_lower(pn));
}

std::optional<ItemRecord> ItemRepository::find_by_id(sql::Tx& tx, std::string_view id) {
    return find_one(tx, kFindById, std::string(id));
}

ItemPage ItemRepository::list(sql::Tx& tx, std::string_view q, std::int64_t limit,
                              std::int64_t offset) {
    limit = std::max<std::int64_t>(limit, 0);
    offset = std::max<std::int64_t>(offset, 0);
    ItemPage page;
    sql::Rows rows;
    if (q.empty()) {
        rows = tx.query(kListAll, {limit, offset});
        page.total = tx.query_one(kCountAll)->i64(0);
    } else {
        std::string pattern = contains_pattern(q);
        rows = tx.query(kListMatching, {pattern, limit, offset});
        page.total = tx.query_one(kCountMatching, {std::move(pattern)})->i64(0);
    }
    page.items.reserve(rows.size());
    for (const auto& r : rows) page.items.push_back(to_item(r));
    return page;
}

bool ItemRepository::update(sql::Tx& tx, const ItemRecord& item) {
    return tx.exec(kUpdate,
                   {item.id, item.description, item.item_type, item.revision, item.updated_at}) > 0;
}

bool ItemRepository::archive(sql::Tx& tx, std::string_view id, Millis at) {
    return tx.exec(kArchive, {std::string(id), at}) > 0;
}

std::int64_t ItemRepository::next_sequence(sql::Tx& tx, std::string_view schema,
                                           std::string_view prefix) {
    auto row = tx.query_one(kNextSequence, {std::string(schema), std::string(prefix)});
    if (!row) throw sql::DbError(sql::DbError::Kind::other, "sequence upsert returned no row");
    return row->i64(0);
}

}  // namespace silo
