// Authentication (API.md §1): bearer API tokens, browser sessions with CSRF tokens, login and
// logout, and the caller's own tokens. Every state change writes its audit row in the same
// transaction. Thread-safe; methods block (SQL, Argon2) and run on the worker pool.
#pragma once

#include "auth/login_throttle.hpp"
#include "auth/password.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "storage/sql.hpp"
#include "storage/user_repository.hpp"

#include <optional>
#include <string>
#include <vector>

namespace silo {

struct LoginOutcome {
    UserRecord user;
    std::string session_secret;  // the cookie value (shown once)
    std::string csrf_token;
    Millis expires_at = 0;
};

struct CreatedToken {
    TokenRecord record;
    std::string secret;  // silo_<hex>, shown once
};

inline constexpr const char* kSessionCookie = "silo_session";
inline constexpr Millis kBrowserSessionLifetime = 24LL * 3600 * 1000;

class AuthService {
public:
    AuthService(sql::Database& db, PasswordHasher& hasher) : db_(db), hasher_(hasher) {}

    // The caller of a request from its Authorization and Cookie headers: a bearer token wins
    // over a cookie. unauthorized (401) for a missing, unknown, expired or revoked credential
    // and for a deactivated user. Never echoes the credential.
    Result<Principal> authenticate(const std::string& authorization, const std::string& cookie);

    // For cookie-authenticated writes: the X-CSRF-Token header must match the session's token.
    Status check_csrf(const Principal& p, const std::string& header_value);

    // Checks the password (on the hashing thread). The same 401 for an unknown user, a wrong
    // password and an inactive user; 429 with retry_after_seconds while throttled.
    Result<LoginOutcome> login(const std::string& username, const std::string& password, const std::string& address);
    // Ends the browser session named by the cookie header (no error when there is none).
    void logout(const std::string& cookie);

    Result<CreatedToken> create_token(const Principal& p, const std::string& name, std::optional<int> expires_in_days);
    // Same, for the operator command line (`silod token create --user NAME`).
    Result<CreatedToken> create_token_for(const std::string& username, const std::string& name,
                                          std::optional<int> expires_in_days, const std::string& actor);
    Result<std::vector<TokenRecord>> list_tokens(const Principal& p);
    // Only the owner may revoke (another user's token is not_found).
    Status revoke_token(const Principal& p, const std::string& token_id);

    static std::optional<std::string> cookie_value(const std::string& cookie_header, const std::string& name);

private:
    Result<CreatedToken> create_token_in(sql::Tx& tx, const UserRecord& owner, const std::string& name,
                                         std::optional<int> expires_in_days, const std::string& actor);

    sql::Database& db_;
    PasswordHasher& hasher_;
    LoginThrottle throttle_;
};

// A Principal for a stored user.
Principal principal_of(const UserRecord& u);

}  // namespace silo
