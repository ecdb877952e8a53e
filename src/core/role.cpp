#include "core/role.hpp"

namespace silo {

const char* role_name(Role r) {
    switch (r) {
        case Role::viewer: return "viewer";
        case Role::editor: return "editor";
        case Role::admin: return "admin";
    }
    return "viewer";
}

std::optional<Role> parse_role(std::string_view s) {
    if (s == "viewer") return Role::viewer;
    if (s == "editor") return Role::editor;
    if (s == "admin") return Role::admin;
    return std::nullopt;
}

}  // namespace silo
