// Small string utilities (no locale) and the rule for client text.
#pragma once

#include "core/error.hpp"

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

// The one rule for text a client sends (JSON strings and member names, decoded path, query
// and form parameters, multipart text fields): valid UTF-8 without control characters
// (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) other than tab, line feed and carriage
// return. Returns what is wrong ("is not valid UTF-8", "contains the control character
// U+0000"), or nullopt when s is acceptable. U+0000 in particular must never reach storage:
// PostgreSQL's client library cuts text at it.
std::optional<std::string> text_problem(std::string_view s);

// True when s holds nothing a person can see: only whitespace (Unicode White_Space) and
// characters that render as nothing (soft hyphen, zero-width spaces and joiners, bidi marks,
// Hangul fillers, variation selectors, BOM). A required text ("reason", "object_id", ...)
// that is blank counts as missing. Invalid UTF-8 is not blank.
bool blank(std::string_view s);

// Decodes %XX escapes; '+' becomes a space only when plus_is_space. The decoded text must
// keep the text rule above: bad_request "has a malformed %-escape" or "<text_problem>"
// (callers put the name of what they decode in front).
Result<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

// Parses a non-negative decimal integer that fits in int64; nullopt otherwise.
std::optional<long long> parse_int(std::string_view s);

// True when every byte sequence in s is valid UTF-8.
bool valid_utf8(std::string_view s);

}  // namespace silo
