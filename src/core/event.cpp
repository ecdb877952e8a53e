#include "core/event.hpp"

namespace silo {

const char* audience_name(Audience a) {
    switch (a) {
        case Audience::everyone: return "everyone";
        case Audience::item: return "item";
        case Audience::workstation: return "workstation";
        case Audience::user: return "user";
    }
    return "everyone";
}

std::optional<Audience> parse_audience(const std::string& s) {
    if (s == "everyone") return Audience::everyone;
    if (s == "item") return Audience::item;
    if (s == "workstation") return Audience::workstation;
    if (s == "user") return Audience::user;
    return std::nullopt;
}

}  // namespace silo
