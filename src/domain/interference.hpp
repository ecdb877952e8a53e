// Edit-session interference rules (API.md §5). Hard interference (same item, context level
// and object) is enforced by the database; this file holds the pure rules around it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace silo {

// sketch | partdesign | assembly
bool valid_context_level(std::string_view level);

struct ConeHolder {
    std::string session_id;
    std::string username;
    std::string object_id;
    std::vector<std::string> dependency_cone;
};

struct SoftConflict {
    std::string session_id;
    std::string username;
    std::string object_id;
    std::vector<std::string> shared_nodes;  // sorted, unique
};

// The sessions whose dependency cone shares at least one node key with `cone`.
std::vector<SoftConflict> soft_conflicts(const std::vector<std::string>& cone, const std::vector<ConeHolder>& others);

}  // namespace silo
