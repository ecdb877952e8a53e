// User administration (API.md §1): list, create, change (role, active, password, display
// name, email), and the idempotent first admin. Audit rows in the same transaction.
// Thread-safe; methods block (SQL, Argon2).
#pragma once

#include "auth/password.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "storage/sql.hpp"
#include "storage/user_repository.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace silo {

struct NewUser {
    std::string username;
    std::string password;
    Role role = Role::viewer;
    std::string display_name;
    std::string email;
};

struct UserPatch {
    std::optional<Role> role;
    std::optional<bool> active;
    std::optional<std::string> password;
    std::optional<std::string> display_name;
    std::optional<std::string> email;
};

struct UserPage {
    std::vector<UserRecord> users;
    std::int64_t total = 0;
};

class UserService {
public:
    UserService(sql::Database& db, PasswordHasher& hasher) : db_(db), hasher_(hasher) {}

    // actor: who asks (system_principal("cli") from the command line); its username goes into
    // the audit row.
    Result<UserRecord> create(const Principal& actor, const NewUser& in);
    // 404 unknown user; 409 when the change would leave no active admin. A new password ends
    // the user's browser sessions, except the one that made the change (the user changing
    // their own password stays logged in there); a deactivation ends all of them.
    Result<UserRecord> update(const Principal& actor, const std::string& username, const UserPatch& patch);
    Result<UserPage> list(std::int64_t limit, std::int64_t offset);
    Result<std::int64_t> count();
    // Whether the user exists and is active.
    Result<bool> active(const std::string& user_id);

    // Creates the configured first admin when no user of that name exists (idempotent);
    // an empty password creates nothing and is reported by the return value.
    Result<bool> ensure_admin(const std::string& username, const std::string& password);

    // Called after a user was deactivated (their sessions and streams end). Set at start.
    std::function<void(const UserRecord&)> on_deactivated;

    static Status validate_username(const std::string& u);
    static Status validate_password(const std::string& p);

private:
    sql::Database& db_;
    PasswordHasher& hasher_;
};

}  // namespace silo
