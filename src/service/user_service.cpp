#include "service/user_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"

namespace silo {

namespace {

nlohmann::json user_details(const UserRecord& u) {
    return {{"username", u.username}, {"role", role_name(u.role)}, {"active", u.active},
            {"display_name", u.display_name}, {"email", u.email}};
}

std::int64_t active_admins(sql::Tx& tx) {
    return tx.query_one("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1")->i64(0);
}

}  // namespace

Status UserService::validate_username(const std::string& u) {
    // Usernames share the part-number alphabet: safe in URLs, logs and audit rows.
    if (!valid_part_number(u)) return bad_request("username must be 1-64 characters of A-Z a-z 0-9 . _ -, and not . or ..");
    return {};
}

Status UserService::validate_password(const std::string& p) {
    auto n = utf8_length(p);
    if (n < 8 || n > 1024) return bad_request("password must be 8 to 1024 characters long");
    return {};
}

Result<UserRecord> UserService::create(const Principal& actor, const NewUser& in) {
    SILO_CHECK(validate_username(in.username));
    SILO_CHECK(validate_password(in.password));
    if (in.display_name.size() > 200 || in.email.size() > 320)
        return bad_request("display_name must be at most 200 and email at most 320 characters");
    UserRecord u;
    u.id = new_uuid();
    u.username = in.username;
    u.display_name = in.display_name.empty() ? in.username : in.display_name;
    u.email = in.email;
    u.role = in.role;
    u.password_hash = hasher_.hash(in.password);
    u.created_at = u.updated_at = now_millis();
    return transact_as<UserRecord>(db_, actor, [&](sql::Tx& tx) -> Result<UserRecord> {
        if (!UserRepository::insert(tx, u)) return conflict("user '" + in.username + "' already exists");
        AuditRepository::append(tx, {actor.username, "user.created", "user", u.id, user_details(u)}, u.created_at);
        return u;
    });
}

Result<UserRecord> UserService::update(const Principal& actor, const std::string& username, const UserPatch& patch) {
    if (patch.password) SILO_CHECK(validate_password(*patch.password));
    if ((patch.display_name && patch.display_name->size() > 200) || (patch.email && patch.email->size() > 320))
        return bad_request("display_name must be at most 200 and email at most 320 characters");
    std::string new_hash = patch.password ? hasher_.hash(*patch.password) : std::string();
    bool deactivated = false;
    auto r = transact_as<UserRecord>(db_, actor, [&](sql::Tx& tx) -> Result<UserRecord> {
        auto u = UserRepository::find_by_username(tx, username);
        if (!u) return not_found("no user '" + username + "'");
        bool was_active_admin = u->active && u->role == Role::admin;
        bool was_active = u->active;
        if (patch.role) u->role = *patch.role;
        if (patch.active) u->active = *patch.active;
        if (patch.display_name) u->display_name = *patch.display_name;
        if (patch.email) u->email = *patch.email;
        if (patch.password) u->password_hash = new_hash;
        u->updated_at = now_millis();
        if (was_active_admin && !(u->active && u->role == Role::admin) && active_admins(tx) <= 1)
            return conflict("this change would leave no active admin");
        UserRepository::update(tx, *u);
        deactivated = was_active && !u->active;
        if (!u->active) {
            // A deactivated user's browser sessions end with the account.
            BrowserSessionRepository::remove_for_user(tx, u->id, "");
        } else if (patch.password) {
            // So do the sessions a stolen password may have opened (OWASP session
            // management), but the one the user changed it from.
            bool own = actor.user_id == u->id && actor.via_cookie;
            BrowserSessionRepository::remove_for_user(tx, u->id, own ? actor.session_id : "");
        }
        // The audit row last: its append lock is taken after every row lock (append_log.hpp).
        auto details = user_details(*u);
        details["password_changed"] = patch.password.has_value();
        AuditRepository::append(tx, {actor.username, "user.updated", "user", u->id, details}, u->updated_at);
        return std::move(*u);
    });
    if (r.ok() && deactivated && on_deactivated) on_deactivated(*r);
    return r;
}

Result<UserPage> UserService::list(std::int64_t limit, std::int64_t offset) {
    return db_.transact<UserPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<UserPage> {
        UserPage page;
        page.users = UserRepository::list(tx, limit, offset, page.total);
        return page;
    });
}

Result<std::int64_t> UserService::count() {
    return db_.transact<std::int64_t>(sql::TxMode::read, [](sql::Tx& tx) -> Result<std::int64_t> {
        return UserRepository::count(tx);
    });
}

Result<bool> UserService::active(const std::string& user_id) {
    return db_.transact<bool>(sql::TxMode::lookup, [&](sql::Tx& tx) -> Result<bool> {
        auto u = UserRepository::find_by_id(tx, user_id);
        return u && u->active;
    });
}

Result<bool> UserService::ensure_admin(const std::string& username, const std::string& password) {
    if (password.empty()) return false;
    SILO_CHECK(validate_username(username));
    bool exists = false;
    SILO_CHECK(db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        exists = UserRepository::find_by_username(tx, username).has_value();
        return {};
    }));
    if (exists) return false;
    NewUser nu;
    nu.username = username;
    nu.password = password;
    nu.role = Role::admin;
    auto r = create(system_principal("system"), nu);
    if (!r.ok() && r.error().code == Errc::conflict) return false;  // another instance won the race
    if (!r.ok()) return std::move(r).error();
    return true;
}

}  // namespace silo
