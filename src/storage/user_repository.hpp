// Users, API tokens and browser sessions (API.md §1). Secrets are never stored: tokens and
// session ids as SHA-256 hex, passwords as Argon2id strings. Stateless; throws sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "core/role.hpp"
#include "storage/sql.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace silo {

struct UserRecord {
    std::string id;
    std::string username;
    std::string display_name;
    std::string email;
    Role role = Role::viewer;
    bool active = true;
    std::string auth_source = "local";
    std::string password_hash;  // Argon2id string; empty for no password login
    Millis created_at = 0;
    Millis updated_at = 0;
};

struct TokenRecord {
    std::string id;
    std::string user_id;
    std::string name;
    std::string token_hash;
    Millis created_at = 0;
    std::optional<Millis> expires_at;
    std::optional<Millis> last_used_at;
    std::optional<Millis> revoked_at;
};

struct BrowserSession {
    std::string id;
    std::string user_id;
    std::string token_hash;
    std::string csrf_token;
    Millis created_at = 0;
    Millis expires_at = 0;
};

class UserRepository {
public:
    // false when the username (case-insensitive) is taken.
    static bool insert(sql::Tx& tx, const UserRecord& u);
    static std::optional<UserRecord> find_by_username(sql::Tx& tx, std::string_view username);
    static std::optional<UserRecord> find_by_id(sql::Tx& tx, std::string_view id);
    // The same, locked against change until the transaction ends (PostgreSQL FOR SHARE).
    static std::optional<UserRecord> lock_by_id(sql::Tx& tx, std::string_view id);
    // All users by username; total in the out parameter.
    static std::vector<UserRecord> list(sql::Tx& tx, std::int64_t limit, std::int64_t offset, std::int64_t& total);
    static void update(sql::Tx& tx, const UserRecord& u);  // every field but id, username, created_at
    static std::int64_t count(sql::Tx& tx);
    // Up to `limit` usernames of active users whose role is at least `role`, but `except` (a
    // username; '' excepts nobody), in username order.
    static std::vector<std::string> eligible_usernames(sql::Tx& tx, Role role, std::string_view except,
                                                       std::int64_t limit);

    // Inside a write transaction on behalf of p: locks p's user row against change until the
    // transaction ends (PostgreSQL FOR SHARE; SQLite's write lock already serialises) and
    // checks that the account is still active (else unauthorized) and its role not below the
    // one p was authenticated with (else forbidden). A request authenticated just before its
    // user was deactivated or demoted then either commits before that change (which then
    // sees, and ends, what it wrote) or is refused. The synthetic admin of auth.enabled: false
    // has no row and passes.
    static Status lock_acting(sql::Tx& tx, const Principal& p);
};

// Runs fn in one write transaction on behalf of p, after UserRepository::lock_acting: the
// way every service writes what a user asked for. Returns fn's result (or the refusal).
template <class T, class Fn>
Result<T> transact_as(sql::Database& db, const Principal& p, Fn&& fn) {
    return db.transact<T>(sql::TxMode::write, [&](sql::Tx& tx) -> Result<T> {
        SILO_CHECK(UserRepository::lock_acting(tx, p));
        return fn(tx);
    });
}
template <class Fn>
Status transact_as(sql::Database& db, const Principal& p, Fn&& fn) {
    return db.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        SILO_CHECK(UserRepository::lock_acting(tx, p));
        return fn(tx);
    });
}

class TokenRepository {
public:
    static void insert(sql::Tx& tx, const TokenRecord& t);
    // The token and its owner for a presented token hash (whatever their state).
    static std::optional<std::pair<TokenRecord, UserRecord>> find_by_hash(sql::Tx& tx, std::string_view hash);
    static std::vector<TokenRecord> list_for_user(sql::Tx& tx, std::string_view user_id);
    static std::optional<TokenRecord> find(sql::Tx& tx, std::string_view id);
    static bool revoke(sql::Tx& tx, std::string_view id, Millis at);
    static void touch(sql::Tx& tx, std::string_view id, Millis at);
};

class BrowserSessionRepository {
public:
    static void insert(sql::Tx& tx, const BrowserSession& s);
    static std::optional<std::pair<BrowserSession, UserRecord>> find_by_hash(sql::Tx& tx, std::string_view hash);
    static void remove(sql::Tx& tx, std::string_view id);
    static void remove_expired(sql::Tx& tx, Millis now);
    // Every browser session of a user but `keep` ('' keeps none).
    static void remove_for_user(sql::Tx& tx, std::string_view user_id, std::string_view keep);
};

}  // namespace silo
