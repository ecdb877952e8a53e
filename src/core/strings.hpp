// Small string utilities (ASCII only; no locale).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

std::string to_lower(std::string_view s);
// Length in characters (code points) of valid UTF-8 text, as API limits count it.
std::size_t utf8_length(std::string_view s);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);

// Decodes %XX escapes; '+' becomes a space only when plus_is_space. nullopt on a malformed
// escape or a decoded NUL byte.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

// Parses a non-negative decimal integer that fits in int64; nullopt otherwise.
std::optional<long long> parse_int(std::string_view s);

// True when every byte sequence in s is valid UTF-8.
bool valid_utf8(std::string_view s);

}  // namespace silo
