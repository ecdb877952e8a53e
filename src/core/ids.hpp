// Random identifiers: UUID v4 strings and URL-safe secrets.
#pragma once

#include <string>
#include <string_view>

namespace silo {

// A new random (version 4) UUID in canonical lower-case form. Thread-safe.
std::string new_uuid();

// True when s is a canonical UUID (8-4-4-4-12 hex digits, any case).
bool is_uuid(std::string_view s);

// A short random hex string of 2*bytes characters (request ids). Thread-safe.
std::string random_hex(size_t bytes);

}  // namespace silo

namespace silo {
// The canonical (lower-case) form of a UUID string.
std::string to_lower_uuid(std::string_view s);
}  // namespace silo
