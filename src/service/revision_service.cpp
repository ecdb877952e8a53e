#include "service/revision_service.hpp"

#include "core/clock.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"
#include "service/item_service.hpp"
#include "storage/item_repository.hpp"

namespace silo {

namespace {

constexpr std::size_t kMaxComment = 2000;



}  // namespace

nlohmann::json revision_json(const RevisionRecord& r) {
    return {{"revision_number", r.revision_number}, {"comment", r.comment},
            {"file_size", r.file_size},             {"file_hash", r.file_hash},
            {"created_at", format_rfc3339(r.created_at)}, {"created_by", r.created_by}};
}

Result<RevisionRecord> RevisionService::upload(const Principal& p, const std::string& part_number,
                                               const std::string& temp_file, const std::string& comment) {
    if (utf8_length(comment) > kMaxComment) return bad_request("comment must be at most 2000 characters");
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    SILO_TRY(auto blob, blobs_.put(temp_file, "revisions"));
    auto r = transact_as<RevisionRecord>(db_, p, [&](sql::Tx& tx) -> Result<RevisionRecord> {
        SILO_TRY(auto item, live_item(tx, part_number));
        RevisionRecord rev;
        rev.item_id = item.id;
        rev.created_at = now_millis();
        auto number = RevisionRepository::bump(tx, item.id, rev.created_at);
        if (!number) return item_not_found(part_number);
        rev.revision_number = *number;
        rev.comment = comment;
        rev.blob_key = blob.key;
        rev.file_size = blob.size;
        rev.file_hash = blob.sha256;
        rev.created_by = p.username;
        RevisionRepository::insert(tx, rev);
        AuditRepository::append(tx, {p.username, "revision.created", "item", item.id,
                                     {{"part_number", item.part_number}, {"revision_number", rev.revision_number},
                                      {"comment", comment}, {"file_hash", rev.file_hash}, {"file_size", rev.file_size}}},
                                rev.created_at);
        emit(tx, "revision.created", Audience::everyone, "",
             {{"item_id", item.id}, {"part_number", item.part_number}, {"revision_number", rev.revision_number},
              {"comment", comment}});
        return rev;
    });
    if (!r.ok()) {
        blobs_.remove(blob.key);
        return r;
    }
    events_.committed();
    return r;
}

Result<RevisionPage> RevisionService::list(const std::string& part_number, std::int64_t limit, std::int64_t offset) {
    return db_.transact<RevisionPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<RevisionPage> {
        SILO_TRY(auto item, live_item(tx, part_number));
        RevisionPage page;
        page.total = RevisionRepository::count(tx, item.id);
        page.revisions = RevisionRepository::list(tx, item.id, limit, offset);
        return page;
    });
}

Result<RevisionRecord> RevisionService::get(const std::string& part_number, std::int64_t number) {
    return db_.transact<RevisionRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<RevisionRecord> {
        SILO_TRY(auto item, live_item(tx, part_number));
        auto rev = RevisionRepository::find(tx, item.id, number);
        if (!rev) return not_found("item '" + item.part_number + "' has no revision " + std::to_string(number));
        return std::move(*rev);
    });
}

void RevisionService::sweep() {
    blobs_.sweep_orphans("revisions", now_millis() - static_cast<Millis>(orphan_grace_minutes_) * 60 * 1000, db_,
                         &RevisionRepository::blob_referenced);
}

}  // namespace silo
