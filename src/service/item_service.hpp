// Items (API.md §2): create (given or schema-generated part numbers), read, list, update,
// archive. Every method runs one transaction; thread-safe.
#pragma once

#include "core/error.hpp"
#include "core/role.hpp"
#include "domain/part_number.hpp"
#include "service/events.hpp"
#include "storage/item_repository.hpp"
#include "storage/sql.hpp"

#include <map>
#include <optional>
#include <string>

namespace silo {

struct CreateItemInput {
    std::optional<std::string> part_number;  // given, or:
    std::optional<std::string> schema;       // generated from this schema ...
    std::optional<std::string> category;     // ... and category
    std::string item_type = "part";
    std::string description;
};

struct UpdateItemInput {
    std::optional<std::string> description;
    std::optional<std::string> item_type;
};

class ItemService {
public:
    ItemService(sql::Database& db, EventNotifier& events, std::map<std::string, PartNumberSchema> schemas)
        : db_(db), events_(events), schemas_(std::move(schemas)) {}

    // 400 on invalid input, 409 when a given part number exists (any case).
    Result<ItemRecord> create(const Principal& actor, const CreateItemInput& in);
    // 404 when missing or archived; lookup is case-insensitive.
    Result<ItemRecord> get(const std::string& part_number);
    Result<ItemRecord> get_by_id(const std::string& id);
    Result<ItemPage> list(const std::string& q, std::int64_t limit, std::int64_t offset);
    Result<ItemRecord> update(const Principal& actor, const std::string& part_number, const UpdateItemInput& in);
    // 404 unknown; 409 while anyone holds an edit session on the item (the error's `sessions`
    // lists them): archiving it would strand their work.
    Status archive(const Principal& actor, const std::string& part_number);
    // The ids of the live items among these part numbers (unknown ones are left out).
    Result<std::vector<std::string>> ids_of(const std::vector<std::string>& part_numbers);

    const std::map<std::string, PartNumberSchema>& schemas() const { return schemas_; }

private:
    sql::Database& db_;
    EventNotifier& events_;
    std::map<std::string, PartNumberSchema> schemas_;
};

// The 404 answer for an unknown, archived or malformed part number.
Error item_not_found(const std::string& part_number);
// The live item with this part number, inside tx (404 item_not_found otherwise).
Result<ItemRecord> live_item(sql::Tx& tx, const std::string& part_number);
// The same, locked against being archived until tx ends (ItemRepository::lock_by_part_number).
Result<ItemRecord> locked_live_item(sql::Tx& tx, const std::string& part_number);

}  // namespace silo
