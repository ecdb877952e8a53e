#include "domain/part_number.hpp"

#include "core/strings.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace silo {

namespace {
bool part_number_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}
}  // namespace

bool valid_part_number(std::string_view pn) {
    // "." and ".." are path segments that URLs normalise away: no client could address them.
    if (pn.empty() || pn.size() > 64 || pn == "." || pn == "..") return false;
    return std::all_of(pn.begin(), pn.end(), part_number_char);
}

std::string part_number_key(std::string_view pn) { return to_lower(pn); }

bool valid_item_type(std::string_view t) {
    return std::any_of(std::begin(kItemTypes), std::end(kItemTypes), [&](const char* k) { return t == k; });
}

std::string PartNumberSchema::format(std::string_view category, std::int64_t sequence) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*lld", sequence_digits, static_cast<long long>(sequence));
    return std::string(category) + separator + buf;
}

Result<PartNumberSchema> parse_schema(const std::string& yaml_text, const std::string& file) {
    auto fail = [&](const std::string& what) -> Error { return bad_request(file + ": " + what); };
    YAML::Node root;
    try {
        root = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        return fail(std::string("not valid YAML: ") + e.what());
    }
    if (!root.IsMap() || !root["schema"] || !root["schema"].IsMap())
        return fail("expected a mapping with a 'schema' key");
    auto s = root["schema"];
    PartNumberSchema out;
    try {
        for (auto it = s.begin(); it != s.end(); ++it) {
            auto key = it->first.as<std::string>();
            if (key != "name" && key != "description" && key != "separator" &&
                key != "sequence_digits" && key != "categories")
                return fail("unknown key 'schema." + key + "'");
        }
        if (!s["name"] || !s["name"].IsScalar()) return fail("'schema.name' is required");
        out.name = s["name"].as<std::string>();
        if (!valid_part_number(out.name)) return fail("'schema.name' must use A-Z a-z 0-9 . _ -");
        if (s["description"]) out.description = s["description"].as<std::string>();
        if (s["separator"]) {
            out.separator = s["separator"].as<std::string>();
            if (out.separator.size() > 1 || (!out.separator.empty() && !part_number_char(out.separator[0])))
                return fail("'schema.separator' must be empty or one of . _ - or an alphanumeric");
        }
        if (s["sequence_digits"]) {
            out.sequence_digits = s["sequence_digits"].as<int>();
            if (out.sequence_digits < 1 || out.sequence_digits > 12)
                return fail("'schema.sequence_digits' must be from 1 to 12");
        }
        if (!s["categories"] || !s["categories"].IsMap() || s["categories"].size() == 0)
            return fail("'schema.categories' must be a non-empty mapping of code to label");
        for (auto it = s["categories"].begin(); it != s["categories"].end(); ++it) {
            auto code = it->first.as<std::string>();
            if (!valid_part_number(code) || code.size() > 40)
                return fail("category code '" + code + "' must be 1-40 characters of A-Z a-z 0-9 . _ -");
            out.categories[code] = it->second.IsScalar() ? it->second.as<std::string>() : std::string();
        }
    } catch (const YAML::Exception& e) {
        return fail(std::string("wrong value type: ") + e.what());
    }
    return out;
}

Result<std::map<std::string, PartNumberSchema>> load_schemas(const std::string& directory) {
    namespace fs = std::filesystem;
    std::map<std::string, PartNumberSchema> out;
    std::error_code ec;
    if (!fs::is_directory(directory, ec)) return out;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(directory, ec)) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) return bad_request(f.string() + ": cannot read file");
        SILO_TRY(auto schema, parse_schema(ss.str(), f.string()));
        if (out.count(schema.name)) return bad_request(f.string() + ": duplicate schema name '" + schema.name + "'");
        out.emplace(schema.name, std::move(schema));
    }
    return out;
}

}  // namespace silo
