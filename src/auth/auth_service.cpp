#include "auth/auth_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json_null.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/strings.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"

namespace silo {

namespace {

constexpr const char* kTokenPrefix = "silo_";
// Update last_used_at at most this often per token (a read stays a read).
constexpr Millis kTouchInterval = 60 * 1000;

Error unauthorized(std::string msg) { return {Errc::unauthorized, std::move(msg)}; }

}  // namespace

Principal principal_of(const UserRecord& u) {
    Principal p;
    p.user_id = u.id;
    p.username = u.username;
    p.display_name = u.display_name;
    p.email = u.email;
    p.role = u.role;
    p.auth_source = u.auth_source;
    return p;
}

std::optional<std::string> AuthService::cookie_value(const std::string& header, const std::string& name) {
    for (auto part : split(header, ';')) {
        auto kv = trim(part);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        if (trim(kv.substr(0, eq)) == name) return std::string(trim(kv.substr(eq + 1)));
    }
    return std::nullopt;
}

Result<Principal> AuthService::authenticate(const std::string& authorization, const std::string& cookie) {
    Millis now = now_millis();
    if (!authorization.empty()) {
        auto auth = trim(authorization);
        if (auth.size() < 7 || to_lower(auth.substr(0, 7)) != "bearer ")
            return unauthorized("the Authorization header must be 'Bearer silo_<token>'");
        auto secret = std::string(trim(auth.substr(7)));
        if (secret.rfind(kTokenPrefix, 0) != 0) return unauthorized("invalid API token");
        auto hash = sha256_hex(secret);
        std::optional<std::pair<TokenRecord, UserRecord>> found;
        SILO_CHECK(db_.transact(sql::TxMode::lookup, [&](sql::Tx& tx) -> Status {
            found = TokenRepository::find_by_hash(tx, hash);
            return {};
        }));
        if (!found) return unauthorized("invalid API token");
        const auto& tok = found->first;  // not a structured binding: the lambda below uses it
        const auto& user = found->second;
        if (tok.revoked_at) return unauthorized("this API token was revoked");
        if (tok.expires_at && *tok.expires_at <= now) return unauthorized("this API token has expired");
        if (!user.active) return unauthorized("this account is deactivated");
        if (!tok.last_used_at || now - *tok.last_used_at > kTouchInterval) {
            // Best effort: a failed touch does not fail the request.
            (void)db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
                TokenRepository::touch(tx, tok.id, now);
                return {};
            });
        }
        auto p = principal_of(user);
        p.token_id = tok.id;
        return p;
    }
    auto value = cookie_value(cookie, kSessionCookie);
    if (!value || value->empty()) return unauthorized("authentication required");
    auto hash = sha256_hex(*value);
    std::optional<std::pair<BrowserSession, UserRecord>> found;
    SILO_CHECK(db_.transact(sql::TxMode::lookup, [&](sql::Tx& tx) -> Status {
        found = BrowserSessionRepository::find_by_hash(tx, hash);
        return {};
    }));
    if (!found || found->first.expires_at <= now) return unauthorized("the session has ended; log in again");
    if (!found->second.active) return unauthorized("this account is deactivated");
    auto p = principal_of(found->second);
    p.via_cookie = true;
    p.session_id = found->first.id;
    return p;
}

Status AuthService::check_csrf(const Principal& p, const std::string& header_value) {
    if (!p.via_cookie) return {};
    std::string expected;
    SILO_CHECK(db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        auto r = tx.query_one("SELECT csrf_token FROM browser_sessions WHERE id = $1", {p.session_id});
        if (r) expected = r->str(0);
        return {};
    }));
    if (expected.empty() || !constant_time_equal(expected, header_value))
        return forbidden("a cookie-authenticated write needs the X-CSRF-Token header from the login answer");
    return {};
}

Result<LoginOutcome> AuthService::login(const std::string& username, const std::string& password,
                                        const std::string& address) {
    const Error bad_credentials = unauthorized("invalid username or password");
    const auto user_key = LoginThrottle::user_key(to_lower(username), address);
    const auto address_key = LoginThrottle::address_key(address);
    Millis now = now_millis();
    std::optional<Millis> wait;
    std::optional<UserRecord> user;
    SILO_CHECK(db_.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
        wait = throttle_.retry_after(LoginFailureRepository::find(tx, user_key),
                                     LoginFailureRepository::find(tx, address_key), now);
        if (!wait && username.size() <= 64 && utf8_length(password) <= 1024)
            user = UserRepository::find_by_username(tx, username);
        return {};
    }));
    if (wait) {
        long secs = static_cast<long>((*wait + 999) / 1000);
        return Error(Errc::too_many_requests, "too many failed logins; try again in " + std::to_string(secs) + " s",
                     {{"retry_after_seconds", secs}});
    }
    // Always one Argon2 verification, so an unknown user costs what a wrong password costs.
    bool ok = hasher_.verify(user ? user->password_hash : std::string(), password);
    if (!ok || !user || !user->active) {
        auto counted = db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
            const Millis t = now_millis();
            const Millis forget = throttle_.policy().forget_after;
            LoginFailureRepository::prune(tx, t - forget);
            LoginFailureRepository::add_failure(tx, user_key, t, forget);
            LoginFailureRepository::add_failure(tx, address_key, t, forget);
            AuditRepository::append(tx,
                                    {username.size() <= 64 ? username : username.substr(0, 64), "auth.login_failed",
                                     "user", user ? user->id : "", {{"address", address}}},
                                    t);
            return {};
        });
        // A failure that could not be counted must not come free: the caller learns nothing
        // about the password, only to try later.
        if (!counted.ok()) {
            log::error("a failed login could not be recorded", {{"error", counted.error().message}});
            return counted.error().code == Errc::internal ? Error(Errc::unavailable, "cannot check logins now; try again later")
                                                          : counted.error();
        }
        return bad_credentials;
    }
    LoginOutcome out;
    out.user = *user;
    out.session_secret = secure_random_hex(32);
    out.csrf_token = secure_random_hex(24);
    out.expires_at = now + kBrowserSessionLifetime;
    BrowserSession s;
    s.id = new_uuid();
    s.user_id = user->id;
    s.token_hash = sha256_hex(out.session_secret);
    s.csrf_token = out.csrf_token;
    s.created_at = now;
    s.expires_at = out.expires_at;
    SILO_CHECK(db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        // The password was checked outside this transaction (Argon2id takes ~100 ms): a
        // password change or deactivation meanwhile (which ended the user's sessions) must not
        // be followed by a session opened with the old password.
        auto now_user = UserRepository::lock_by_id(tx, user->id);
        if (!now_user || !now_user->active || now_user->password_hash != user->password_hash) return bad_credentials;
        BrowserSessionRepository::remove_expired(tx, now);
        BrowserSessionRepository::insert(tx, s);
        LoginFailureRepository::forget(tx, user_key);  // that name's failures from this address
        AuditRepository::append(tx, {user->username, "auth.login", "user", user->id, {{"address", address}}}, now);
        return {};
    }));
    return out;
}

void AuthService::logout(const std::string& cookie) {
    auto value = cookie_value(cookie, kSessionCookie);
    if (!value || value->empty()) return;
    auto hash = sha256_hex(*value);
    (void)db_.transact(sql::TxMode::write, [&](sql::Tx& tx) -> Status {
        auto found = BrowserSessionRepository::find_by_hash(tx, hash);
        if (!found) return {};
        BrowserSessionRepository::remove(tx, found->first.id);
        AuditRepository::append(tx, {found->second.username, "auth.logout", "user", found->second.id}, now_millis());
        return {};
    });
}

Result<CreatedToken> AuthService::create_token_in(sql::Tx& tx, const UserRecord& owner, const std::string& name,
                                                  std::optional<int> expires_in_days, const std::string& actor) {
    Millis now = now_millis();
    CreatedToken out;
    out.secret = kTokenPrefix + secure_random_hex(32);
    auto& t = out.record;
    t.id = new_uuid();
    t.user_id = owner.id;
    t.name = name;
    t.token_hash = sha256_hex(out.secret);
    t.created_at = now;
    if (expires_in_days) t.expires_at = now + static_cast<Millis>(*expires_in_days) * 24 * 3600 * 1000;
    TokenRepository::insert(tx, t);
    nlohmann::json details = {{"name", name}, {"owner", owner.username}};
    details["expires_at"] = time_or_null(t.expires_at);
    AuditRepository::append(tx, {actor, "token.created", "token", t.id, details}, now);
    return out;
}

Result<CreatedToken> AuthService::create_token(const Principal& p, const std::string& name,
                                               std::optional<int> expires_in_days) {
    if (p.synthetic) return bad_request("API tokens need a real user (authentication is disabled)");
    return transact_as<CreatedToken>(db_, p, [&](sql::Tx& tx) -> Result<CreatedToken> {
        auto owner = UserRepository::find_by_id(tx, p.user_id);
        if (!owner || !owner->active) return unauthorized("this account is deactivated");
        return create_token_in(tx, *owner, name, expires_in_days, p.username);
    });
}

Result<CreatedToken> AuthService::create_token_for(const std::string& username, const std::string& name,
                                                   std::optional<int> expires_in_days, const std::string& actor) {
    return db_.transact<CreatedToken>(sql::TxMode::write, [&](sql::Tx& tx) -> Result<CreatedToken> {
        auto owner = UserRepository::find_by_username(tx, username);
        if (!owner) return not_found("no user '" + username + "'");
        if (!owner->active) return conflict("user '" + username + "' is deactivated");
        return create_token_in(tx, *owner, name, expires_in_days, actor);
    });
}

Result<std::vector<TokenRecord>> AuthService::list_tokens(const Principal& p) {
    return db_.transact<std::vector<TokenRecord>>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<std::vector<TokenRecord>> {
        return TokenRepository::list_for_user(tx, p.user_id);
    });
}

Status AuthService::revoke_token(const Principal& p, const std::string& token_id) {
    return transact_as(db_, p, [&](sql::Tx& tx) -> Status {
        auto t = TokenRepository::find(tx, token_id);
        if (!t || t->user_id != p.user_id || t->revoked_at) return not_found("no such token");
        Millis now = now_millis();
        TokenRepository::revoke(tx, token_id, now);
        AuditRepository::append(tx, {p.username, "token.revoked", "token", token_id, {{"name", t->name}}}, now);
        return {};
    });
}

}  // namespace silo
