#include "storage/checkpoint_repository.hpp"

namespace silo {

namespace {

constexpr const char* kSelect =
    "SELECT c.id, c.item_id, i.part_number, c.user_id, c.username, c.base_revision, c.context, c.storage_mode, "
    "c.blob_key, c.file_size, c.file_hash, c.pinned, c.created_at, c.expires_at "
    "FROM checkpoints c JOIN items i ON i.id = c.item_id ";
// Active at $N: pinned, or expiring after it.
constexpr const char* kActive = "(c.pinned = 1 OR c.expires_at > $";

CheckpointRecord read(const sql::Row& r) {
    CheckpointRecord c;
    c.id = r.str(0);
    c.item_id = r.str(1);
    c.part_number = r.str(2);
    c.user_id = r.str(3);
    c.username = r.str(4);
    c.base_revision = r.i64(5);
    c.context = r.str(6);
    c.storage_mode = r.str(7);
    c.blob_key = r.str(8);
    c.file_size = r.i64(9);
    c.file_hash = r.str(10);
    c.pinned = r.boolean(11);
    c.created_at = r.i64(12);
    c.expires_at = r.i64(13);
    return c;
}

std::vector<CheckpointRecord> read_all(const sql::Rows& rows) {
    std::vector<CheckpointRecord> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(read(r));
    return out;
}

}  // namespace

void CheckpointRepository::insert(sql::Tx& tx, const CheckpointRecord& c) {
    tx.exec("INSERT INTO checkpoints (id, item_id, user_id, username, base_revision, context, storage_mode, blob_key, "
            "file_size, file_hash, pinned, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            {c.id, c.item_id, c.user_id, c.username, c.base_revision, c.context, c.storage_mode, c.blob_key,
             c.file_size, c.file_hash, std::int64_t{c.pinned ? 1 : 0}, c.created_at, c.expires_at});
}

std::optional<CheckpointRecord> CheckpointRepository::find(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string(kSelect) + "WHERE c.id = $1", {std::string(id)});
    if (!r) return std::nullopt;
    return read(*r);
}

CheckpointPage CheckpointRepository::list(sql::Tx& tx, std::string_view item_id, std::string_view username, Millis now,
                                          std::int64_t limit, std::int64_t offset) {
    std::string where = std::string("WHERE c.item_id = $1 AND ") + kActive + "2) AND ($3 = '' OR c.username = $3) ";
    sql::Params p{std::string(item_id), now, std::string(username)};
    CheckpointPage page;
    page.total = tx.query_one("SELECT COUNT(*) FROM checkpoints c JOIN items i ON i.id = c.item_id " + where, p)->i64(0);
    auto rows = tx.query(std::string(kSelect) + where + "ORDER BY c.created_at DESC, c.id DESC LIMIT $4 OFFSET $5",
                         {p[0], p[1], p[2], limit, offset});
    page.checkpoints = read_all(rows);
    return page;
}

std::optional<CheckpointRecord> CheckpointRepository::newest_since(sql::Tx& tx, std::string_view item_id,
                                                                   std::string_view user_id, Millis since) {
    auto r = tx.query_one(std::string(kSelect) +
                              "WHERE c.item_id = $1 AND c.user_id = $2 AND c.created_at >= $3 "
                              "ORDER BY c.created_at DESC, c.id DESC LIMIT 1",
                          {std::string(item_id), std::string(user_id), since});
    if (!r) return std::nullopt;
    return read(*r);
}

bool CheckpointRepository::remove(sql::Tx& tx, std::string_view id) {
    return tx.exec("DELETE FROM checkpoints WHERE id = $1", {std::string(id)}) > 0;
}

std::vector<CheckpointRecord> CheckpointRepository::over_cap(sql::Tx& tx, std::string_view item_id,
                                                             std::string_view user_id, std::int64_t keep) {
    const char* all = tx.dialect() == sql::Dialect::postgres ? "LIMIT ALL" : "LIMIT -1";
    return read_all(tx.query(std::string(kSelect) +
                                 "WHERE c.item_id = $1 AND c.user_id = $2 AND c.pinned = 0 "
                                 "ORDER BY c.created_at DESC, c.id DESC " + all + " OFFSET $3",
                             {std::string(item_id), std::string(user_id), keep}));
}

std::vector<std::pair<std::string, std::string>> CheckpointRepository::crowded(sql::Tx& tx, std::int64_t keep) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : tx.query("SELECT item_id, user_id FROM checkpoints WHERE pinned = 0 "
                                  "GROUP BY item_id, user_id HAVING COUNT(*) > $1",
                                  {keep}))
        out.emplace_back(r.str(0), r.str(1));
    return out;
}

std::vector<CheckpointRecord> CheckpointRepository::expired(sql::Tx& tx, Millis now, std::int64_t limit) {
    return read_all(tx.query(std::string(kSelect) + "WHERE c.pinned = 0 AND c.expires_at <= $1 LIMIT $2", {now, limit}));
}

bool CheckpointRepository::blob_referenced(sql::Tx& tx, std::string_view blob_key) {
    return tx.query_one("SELECT 1 FROM checkpoints WHERE blob_key = $1", {std::string(blob_key)}).has_value();
}

}  // namespace silo
