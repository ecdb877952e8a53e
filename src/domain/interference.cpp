#include "domain/interference.hpp"

#include <algorithm>
#include <set>

namespace silo {

bool valid_context_level(std::string_view level) {
    return level == "sketch" || level == "partdesign" || level == "assembly";
}

std::vector<SoftConflict> soft_conflicts(const std::vector<std::string>& cone, const std::vector<ConeHolder>& others) {
    std::vector<SoftConflict> out;
    if (cone.empty()) return out;
    std::set<std::string> mine(cone.begin(), cone.end());
    for (const auto& o : others) {
        std::set<std::string> shared;
        for (const auto& n : o.dependency_cone)
            if (mine.count(n)) shared.insert(n);
        if (shared.empty()) continue;
        out.push_back({o.session_id, o.username, o.object_id, {shared.begin(), shared.end()}});
    }
    return out;
}

}  // namespace silo
