// Typed parsing helpers shared by every api adapter: JSON bodies, fields, paging.
// Every failure is a 4xx Error; nothing here touches storage.
#pragma once

#include "core/error.hpp"
#include "http/types.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace silo::api {

using nlohmann::json;

// The request body as a JSON object. 415 when a body is sent with a non-JSON content type,
// 400 when it is malformed, not UTF-8 or not an object. An empty body is an empty object.
Result<json> parse_object(const http::HttpRequest& req);

// Optional string field: absent or null -> nullopt; another type -> 400.
Result<std::optional<std::string>> opt_string(const json& obj, const char* key, std::size_t max_len = 4096);
// Required non-empty string field.
Result<std::string> req_string(const json& obj, const char* key, std::size_t max_len = 4096);
Result<std::optional<bool>> opt_bool(const json& obj, const char* key);
Result<std::optional<std::int64_t>> opt_int(const json& obj, const char* key, std::int64_t min, std::int64_t max);

// An uploaded file (a revision, a checkpoint, session work) holds at least one byte: an
// empty one is a client's mistake (400 "<what> is empty"), the same on every upload route.
Status require_bytes(std::int64_t size, const char* what);

struct Paging {
    std::int64_t limit = 100;
    std::int64_t offset = 0;
};
// ?limit= (1..1000, default 100) and ?offset= (>= 0).
Result<Paging> parse_paging(const http::HttpRequest& req);

// 200 with a JSON array and the X-Total-Count header.
http::HttpResponse list_response(const json& array, std::int64_t total);
// The same for a list read whole (a user's tokens, an item's sessions): the page of `all`
// that paging asks for, with the total of `all`. Every list route pages (API.md §0).
http::HttpResponse paged_response(const json& all, const Paging& paging);

}  // namespace silo::api
