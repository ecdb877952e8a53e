// Part numbers (API.md §0, §2) and YAML part-number schemas.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

// 1-64 characters of A-Z a-z 0-9 . _ -, except "." and ".." (also the rule for usernames).
bool valid_part_number(std::string_view pn);

// The case-insensitive key a part number is unique and looked up by.
std::string part_number_key(std::string_view pn);

inline constexpr const char* kItemTypes[] = {"part", "assembly", "drawing", "document"};
bool valid_item_type(std::string_view t);

// A part-number schema file (schemas/<name>.yaml):
//
//   schema:
//     name: kindred-rd
//     description: "..."
//     separator: "-"          # between category and sequence (default "-")
//     sequence_digits: 4      # zero-padded width of the sequence (1..12)
//     categories:             # code -> label; codes follow the part-number alphabet
//       F01: "Fasteners"
//
// A generated number is <category><separator><sequence>, e.g. F01-0001; the sequence counts
// per category and never reuses a value.
struct PartNumberSchema {
    std::string name;
    std::string description;
    std::string separator = "-";
    int sequence_digits = 4;
    std::map<std::string, std::string> categories;  // code -> label

    // The part number for a category and sequence value.
    std::string format(std::string_view category, std::int64_t sequence) const;
};

// Parses one schema document; file names the source in error messages.
Result<PartNumberSchema> parse_schema(const std::string& yaml_text, const std::string& file);

// All *.yaml / *.yml schemas of a directory, by name. A bad file fails naming the file;
// two files with one name fail too. A missing directory yields no schemas.
Result<std::map<std::string, PartNumberSchema>> load_schemas(const std::string& directory);

}  // namespace silo
