#include "core/log.hpp"

#include "core/clock.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace silo::log {

namespace {
spdlog::level::level_enum to_spd(Level l) {
    switch (l) {
        case Level::debug: return spdlog::level::debug;
        case Level::info: return spdlog::level::info;
        case Level::warn: return spdlog::level::warn;
        case Level::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}
const char* name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
    }
    return "info";
}
}  // namespace

void init(Level min_level) {
    auto logger = spdlog::get("silod");
    if (!logger) logger = spdlog::stderr_logger_mt("silod");
    logger->set_pattern("%v");
    logger->set_level(to_spd(min_level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

void write(Level level, std::string_view msg, const nlohmann::json& fields) {
    auto logger = spdlog::default_logger_raw();
    if (!logger->should_log(to_spd(level))) return;
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::string ts = format_rfc3339(ms);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
    ts.replace(ts.size() - 1, 1, frac);
    // The line is put together here, in the documented key order, rather than built as a JSON
    // object and dumped (a request's log line is on every request's path).
    const auto dump = [](const nlohmann::json& v) {
        return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::string line;
    line.reserve(256);
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += name(level);
    line += "\",\"msg\":";
    line += dump(msg);
    if (fields.is_object())
        for (auto it = fields.begin(); it != fields.end(); ++it) {
            if (it.key() == "ts" || it.key() == "level" || it.key() == "msg") continue;  // not replaceable
            line += ',';
            line += dump(it.key());
            line += ':';
            line += dump(it.value());
        }
    line += '}';
    logger->log(to_spd(level), spdlog::string_view_t(line));
}

}  // namespace silo::log
