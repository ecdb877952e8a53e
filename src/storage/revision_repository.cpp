#include "storage/revision_repository.hpp"

namespace silo {

namespace {

constexpr const char* kSelect =
    "SELECT item_id, revision_number, comment, blob_key, file_size, file_hash, created_at, created_by FROM revisions ";

RevisionRecord read(const sql::Row& r) {
    RevisionRecord rev;
    rev.item_id = r.str(0);
    rev.revision_number = r.i64(1);
    rev.comment = r.str(2);
    rev.blob_key = r.str(3);
    rev.file_size = r.i64(4);
    rev.file_hash = r.str(5);
    rev.created_at = r.i64(6);
    rev.created_by = r.str(7);
    return rev;
}

}  // namespace

std::optional<std::int64_t> RevisionRepository::bump(sql::Tx& tx, std::string_view item_id, Millis now) {
    auto r = tx.query_one("UPDATE items SET revision = revision + 1, updated_at = $2 WHERE id = $1 AND archived_at IS NULL "
                          "RETURNING revision",
                          {std::string(item_id), now});
    if (!r) return std::nullopt;
    return r->i64(0);
}

void RevisionRepository::insert(sql::Tx& tx, const RevisionRecord& r) {
    tx.exec("INSERT INTO revisions (item_id, revision_number, comment, blob_key, file_size, file_hash, created_at, "
            "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            {r.item_id, r.revision_number, r.comment, r.blob_key, r.file_size, r.file_hash, r.created_at, r.created_by});
}

std::optional<RevisionRecord> RevisionRepository::find(sql::Tx& tx, std::string_view item_id, std::int64_t number) {
    auto r = tx.query_one(std::string(kSelect) + "WHERE item_id = $1 AND revision_number = $2",
                          {std::string(item_id), number});
    if (!r) return std::nullopt;
    return read(*r);
}

std::vector<RevisionRecord> RevisionRepository::list(sql::Tx& tx, std::string_view item_id, std::int64_t limit,
                                                     std::int64_t offset) {
    std::vector<RevisionRecord> out;
    for (const auto& r : tx.query(std::string(kSelect) +
                                      "WHERE item_id = $1 ORDER BY revision_number DESC LIMIT $2 OFFSET $3",
                                  {std::string(item_id), limit, offset}))
        out.push_back(read(r));
    return out;
}

std::int64_t RevisionRepository::count(sql::Tx& tx, std::string_view item_id) {
    return tx.query_one("SELECT COUNT(*) FROM revisions WHERE item_id = $1", {std::string(item_id)})->i64(0);
}

bool RevisionRepository::blob_referenced(sql::Tx& tx, std::string_view blob_key) {
    return tx.query_one("SELECT 1 FROM revisions WHERE blob_key = $1", {std::string(blob_key)}).has_value();
}

}  // namespace silo
