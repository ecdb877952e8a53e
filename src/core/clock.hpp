// Time as integer milliseconds since the Unix epoch (UTC), and RFC 3339 formatting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace silo {

using Millis = std::int64_t;

// Wall-clock now, in milliseconds since the epoch. Thread-safe.
Millis now_millis();

// "2026-03-01T15:39:21Z" (seconds precision, UTC).
std::string format_rfc3339(Millis t);

// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"; nullopt when malformed.
std::optional<Millis> parse_rfc3339(std::string_view s);

}  // namespace silo
