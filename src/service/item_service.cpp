#include "service/item_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "service/session_service.hpp"
#include "storage/audit_repository.hpp"
#include "storage/session_repository.hpp"
#include "storage/user_repository.hpp"

#include <set>

namespace silo {

namespace {

constexpr int kMaxDescription = 4000;
// A generated number can collide with one somebody typed by hand; skip ahead this many times.
constexpr int kMaxGenerateAttempts = 1000;

Status validate_fields(const std::optional<std::string>& description, const std::optional<std::string>& item_type) {
    if (item_type && !valid_item_type(*item_type))
        return bad_request("item_type must be one of part, assembly, drawing, document");
    if (description && description->size() > kMaxDescription)
        return bad_request("description must be at most " + std::to_string(kMaxDescription) + " bytes");
    return {};
}


// The audit row and the event (to everyone) of one item change.
void record_item(sql::Tx& tx, const Principal& actor, const char* action, const ItemRecord& r, Millis at) {
    nlohmann::json details = {{"part_number", r.part_number}, {"description", r.description}, {"item_type", r.item_type}};
    AuditRepository::append(tx, {actor.username, action, "item", r.id, details}, at);
    details["item_id"] = r.id;
    emit(tx, action, Audience::everyone, "", details);
}

}  // namespace

Result<ItemRecord> ItemService::create(const Principal& actor, const CreateItemInput& in) {
    SILO_CHECK(validate_fields(in.description, in.item_type));
    const PartNumberSchema* schema = nullptr;
    if (in.part_number) {
        if (in.schema || in.category) return bad_request("give either part_number or schema and category, not both");
        if (!valid_part_number(*in.part_number))
            return bad_request("part_number must be 1-64 characters of A-Z a-z 0-9 . _ -, and not . or ..");
    } else {
        if (!in.schema || !in.category) return bad_request("part_number is required (or schema and category)");
        auto it = schemas_.find(*in.schema);
        if (it == schemas_.end()) return bad_request("unknown part-number schema '" + *in.schema + "'");
        schema = &it->second;
        if (!schema->categories.count(*in.category))
            return bad_request("schema '" + *in.schema + "' has no category '" + *in.category + "'");
    }
    ItemRecord rec;
    rec.id = new_uuid();
    rec.item_type = in.item_type;
    rec.description = in.description;
    rec.created_by = actor.username;
    rec.created_at = rec.updated_at = now_millis();
    auto created = transact_as<ItemRecord>(db_, actor, [&](sql::Tx& tx) -> Result<ItemRecord> {
        if (!schema) {
            rec.part_number = *in.part_number;
            if (!ItemRepository::insert(tx, rec))
                return conflict("part number '" + rec.part_number + "' already exists");
            record_item(tx, actor, "item.created", rec, rec.created_at);
            return rec;
        }
        for (int i = 0; i < kMaxGenerateAttempts; ++i) {
            auto seq = ItemRepository::next_sequence(tx, schema->name, *in.category);
            rec.part_number = schema->format(*in.category, seq);
            if (rec.part_number.size() > 64) return bad_request("the generated part number is too long");
            if (ItemRepository::insert(tx, rec)) {
                record_item(tx, actor, "item.created", rec, rec.created_at);
                return rec;
            }
        }
        return conflict("no free part number in category '" + *in.category + "'");
    });
    if (created.ok()) events_.committed();
    return created;
}

Result<ItemRecord> ItemService::get(const std::string& part_number) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    return db_.transact<ItemRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<ItemRecord> {
        auto rec = ItemRepository::find_by_part_number(tx, part_number);
        if (!rec) return item_not_found(part_number);
        return std::move(*rec);
    });
}

Result<ItemRecord> ItemService::get_by_id(const std::string& id) {
    if (!is_uuid(id)) return bad_request("'" + id + "' is not a UUID");
    return db_.transact<ItemRecord>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<ItemRecord> {
        auto rec = ItemRepository::find_by_id(tx, to_lower_uuid(id));
        if (!rec) return not_found("no item with id " + id);
        return std::move(*rec);
    });
}

Result<ItemPage> ItemService::list(const std::string& q, std::int64_t limit, std::int64_t offset) {
    return db_.transact<ItemPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<ItemPage> {
        return ItemRepository::list(tx, q, limit, offset);
    });
}

Result<ItemRecord> ItemService::update(const Principal& actor, const std::string& part_number,
                                       const UpdateItemInput& in) {
    SILO_CHECK(validate_fields(in.description, in.item_type));
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto updated = transact_as<ItemRecord>(db_, actor, [&](sql::Tx& tx) -> Result<ItemRecord> {
        auto rec = ItemRepository::find_by_part_number(tx, part_number);
        if (!rec) return item_not_found(part_number);
        if (in.description) rec->description = *in.description;
        if (in.item_type) rec->item_type = *in.item_type;
        rec->updated_at = now_millis();
        if (!ItemRepository::update(tx, *rec)) return item_not_found(part_number);
        record_item(tx, actor, "item.updated", *rec, rec->updated_at);
        return std::move(*rec);
    });
    if (updated.ok()) events_.committed();
    return updated;
}

Status ItemService::archive(const Principal& actor, const std::string& part_number) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto archived = transact_as(db_, actor, [&](sql::Tx& tx) -> Status {
        auto rec = ItemRepository::find_by_part_number(tx, part_number);
        if (!rec) return item_not_found(part_number);
        Millis now = now_millis();
        // Archive first (that locks the row: an acquire in flight, which holds it shared,
        // commits before), then look for sessions: a held item is not archived, or its
        // holders could neither push their work nor be force-released (issue 20).
        if (!ItemRepository::archive(tx, rec->id, now)) return item_not_found(part_number);
        auto held = SessionRepository::list(tx, {rec->id, "", ""});
        if (!held.empty()) {
            auto sessions = nlohmann::json::array();
            std::set<std::string> holders;
            for (const auto& s : held) {
                sessions.push_back(session_json(s));
                holders.insert(s.username);
            }
            std::string who;
            for (const auto& h : holders) who += (who.empty() ? "" : ", ") + h;
            return Error(Errc::conflict,
                         rec->part_number + " has " + std::to_string(held.size()) + " active edit session" +
                             (held.size() == 1 ? "" : "s") + " (" + who +
                             "): release or force-release them before archiving it",
                         {{"sessions", std::move(sessions)}});
        }
        record_item(tx, actor, "item.deleted", *rec, now);
        return {};
    });
    if (archived.ok()) events_.committed();
    return archived;
}

Result<std::vector<std::string>> ItemService::ids_of(const std::vector<std::string>& part_numbers) {
    return db_.transact<std::vector<std::string>>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<std::vector<std::string>> {
        std::vector<std::string> ids;
        for (const auto& pn : part_numbers)
            if (auto rec = ItemRepository::find_by_part_number(tx, pn)) ids.push_back(rec->id);
        return ids;
    });
}

Error item_not_found(const std::string& part_number) { return not_found("item '" + part_number + "' not found"); }

Result<ItemRecord> live_item(sql::Tx& tx, const std::string& part_number) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto item = ItemRepository::find_by_part_number(tx, part_number);
    if (!item) return item_not_found(part_number);
    return std::move(*item);
}

Result<ItemRecord> locked_live_item(sql::Tx& tx, const std::string& part_number) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto item = ItemRepository::lock_by_part_number(tx, part_number);
    if (!item) return item_not_found(part_number);
    return std::move(*item);
}

}  // namespace silo
