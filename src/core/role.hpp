// The role ladder viewer < editor < admin (API.md §0).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace silo {

enum class Role { viewer = 1, editor = 2, admin = 3 };

const char* role_name(Role r);
std::optional<Role> parse_role(std::string_view s);
inline bool role_at_least(Role have, Role need) {
    return static_cast<int>(have) >= static_cast<int>(need);
}

// Who is making a request, as established by authentication.
struct Principal {
    std::string user_id;
    std::string username;
    std::string display_name;
    std::string email;
    Role role = Role::viewer;
    std::string auth_source = "local";
    bool via_cookie = false;   // authenticated by the browser session cookie
    bool synthetic = false;    // auth.enabled: false development user
    std::string session_id;    // browser session id when via_cookie
    std::string token_id;      // API token id when authenticated by bearer token
};

// The server itself or the operator command line acting under a name ("system", "cli"): an
// admin with no user row (like the synthetic admin of auth.enabled: false).
inline Principal system_principal(std::string name) {
    Principal p;
    p.username = std::move(name);
    p.role = Role::admin;
    p.synthetic = true;
    return p;
}

}  // namespace silo
