// Structured logging: one JSON object per line on stderr, through spdlog.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace silo::log {

enum class Level { debug, info, warn, error };

// Sets up the process logger (JSON lines on stderr); a second call only changes the level.
// Safe to skip in tests.
void init(Level min_level = Level::info);

// Writes {"ts":..., "level":..., "msg":..., <fields>} as one line. Thread-safe.
void write(Level level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

inline void info(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    write(Level::info, msg, f);
}
inline void warn(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    write(Level::warn, msg, f);
}
inline void error(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    write(Level::error, msg, f);
}
inline void debug(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) {
    write(Level::debug, msg, f);
}

}  // namespace silo::log
