// Values that may be absent, in JSON answers and event payloads: null when there is none;
// times as RFC 3339.
#pragma once

#include "core/clock.hpp"

#include <nlohmann/json.hpp>

#include <optional>

namespace silo {

template <class T>
nlohmann::json value_or_null(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

inline nlohmann::json time_or_null(const std::optional<Millis>& t) {
    return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json(nullptr);
}

// For the columns where 0 means "not set" (a checkpoint's expires_at, a handoff's resolved_at).
inline nlohmann::json time_or_null_if_zero(Millis t) {
    return t == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_rfc3339(t));
}

}  // namespace silo
