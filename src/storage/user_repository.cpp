#include "storage/user_repository.hpp"

#include "core/strings.hpp"

namespace silo {

namespace {

constexpr const char* kUserColumns =
    "u.id, u.username, u.display_name, u.email, u.role, u.active, u.auth_source, u.password_hash, u.created_at, "
    "u.updated_at";

UserRecord read_user(const sql::Row& r, std::size_t at = 0) {
    UserRecord u;
    u.id = r.str(at + 0);
    u.username = r.str(at + 1);
    u.display_name = r.str(at + 2);
    u.email = r.str(at + 3);
    u.role = parse_role(r.str(at + 4)).value_or(Role::viewer);
    u.active = r.boolean(at + 5);
    u.auth_source = r.str(at + 6);
    u.password_hash = r.str(at + 7);
    u.created_at = r.i64(at + 8);
    u.updated_at = r.i64(at + 9);
    return u;
}

constexpr const char* kTokenColumns =
    "t.id, t.user_id, t.name, t.token_hash, t.created_at, t.expires_at, t.last_used_at, t.revoked_at";
constexpr std::size_t kTokenColumnCount = 8;

TokenRecord read_token(const sql::Row& r) {
    TokenRecord t;
    t.id = r.str(0);
    t.user_id = r.str(1);
    t.name = r.str(2);
    t.token_hash = r.str(3);
    t.created_at = r.i64(4);
    t.expires_at = r.opt_i64(5);
    t.last_used_at = r.opt_i64(6);
    t.revoked_at = r.opt_i64(7);
    return t;
}

sql::Value opt_millis(const std::optional<Millis>& m) { return m ? sql::Value(*m) : sql::Value(nullptr); }

}  // namespace

std::vector<std::string> UserRepository::eligible_usernames(sql::Tx& tx, Role role, std::string_view except,
                                                            std::int64_t limit) {
    std::vector<std::string> out;
    // The role ladder as numbers (core/role.hpp: viewer 1, editor 2, admin 3).
    for (const auto& r : tx.query("SELECT username FROM users WHERE active = 1 AND username_key <> $1 AND "
                                  "CASE role WHEN 'admin' THEN 3 WHEN 'editor' THEN 2 ELSE 1 END >= $2 "
                                  "ORDER BY username_key LIMIT $3",
                                  {to_lower(except), static_cast<std::int64_t>(role), limit}))
        out.push_back(r.str(0));
    return out;
}

Status UserRepository::lock_acting(sql::Tx& tx, const Principal& p) {
    if (p.synthetic) return {};
    auto row = tx.query_one(tx.dialect() == sql::Dialect::postgres
                                ? "SELECT active, role FROM users WHERE id = $1 FOR SHARE"
                                : "SELECT active, role FROM users WHERE id = $1",
                            {p.user_id});
    if (!row || !row->boolean(0)) return Error(Errc::unauthorized, "this account is deactivated");
    auto role = parse_role(row->str(1)).value_or(Role::viewer);
    if (!role_at_least(role, p.role))
        return forbidden(std::string("your role changed to ") + role_name(role) +
                         " while this request was in flight; nothing was changed");
    return {};
}

bool UserRepository::insert(sql::Tx& tx, const UserRecord& u) {
    auto rows = tx.query(
        "INSERT INTO users (id, username, username_key, display_name, email, role, active, auth_source, "
        "password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (username_key) DO NOTHING RETURNING id",
        {u.id, u.username, to_lower(u.username), u.display_name, u.email, std::string(role_name(u.role)),
         std::int64_t{u.active ? 1 : 0}, u.auth_source, u.password_hash, u.created_at, u.updated_at});
    return !rows.empty();
}

std::optional<UserRecord> UserRepository::find_by_username(sql::Tx& tx, std::string_view username) {
    auto r = tx.query_one(std::string("SELECT ") + kUserColumns + " FROM users u WHERE u.username_key = $1",
                          {to_lower(username)});
    if (!r) return std::nullopt;
    return read_user(*r);
}

std::optional<UserRecord> UserRepository::find_by_id(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string("SELECT ") + kUserColumns + " FROM users u WHERE u.id = $1", {std::string(id)});
    if (!r) return std::nullopt;
    return read_user(*r);
}

std::optional<UserRecord> UserRepository::lock_by_id(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string("SELECT ") + kUserColumns + " FROM users u WHERE u.id = $1" +
                              (tx.dialect() == sql::Dialect::postgres ? " FOR SHARE" : ""),
                          {std::string(id)});
    if (!r) return std::nullopt;
    return read_user(*r);
}

std::vector<UserRecord> UserRepository::list(sql::Tx& tx, std::int64_t limit, std::int64_t offset,
                                             std::int64_t& total) {
    total = tx.query_one("SELECT COUNT(*) FROM users")->i64(0);
    std::vector<UserRecord> out;
    for (const auto& r : tx.query(std::string("SELECT ") + kUserColumns +
                                      " FROM users u ORDER BY u.username_key LIMIT $1 OFFSET $2",
                                  {limit, offset}))
        out.push_back(read_user(r));
    return out;
}

void UserRepository::update(sql::Tx& tx, const UserRecord& u) {
    tx.exec(
        "UPDATE users SET display_name = $2, email = $3, role = $4, active = $5, auth_source = $6, "
        "password_hash = $7, updated_at = $8 WHERE id = $1",
        {u.id, u.display_name, u.email, std::string(role_name(u.role)), std::int64_t{u.active ? 1 : 0},
         u.auth_source, u.password_hash, u.updated_at});
}

std::int64_t UserRepository::count(sql::Tx& tx) { return tx.query_one("SELECT COUNT(*) FROM users")->i64(0); }

void TokenRepository::insert(sql::Tx& tx, const TokenRecord& t) {
    tx.exec(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at, last_used_at, revoked_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
        {t.id, t.user_id, t.name, t.token_hash, t.created_at, opt_millis(t.expires_at)});
}

std::optional<std::pair<TokenRecord, UserRecord>> TokenRepository::find_by_hash(sql::Tx& tx, std::string_view hash) {
    auto r = tx.query_one(std::string("SELECT ") + kTokenColumns + ", " + kUserColumns +
                              " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
                          {std::string(hash)});
    if (!r) return std::nullopt;
    return std::make_pair(read_token(*r), read_user(*r, kTokenColumnCount));
}

std::vector<TokenRecord> TokenRepository::list_for_user(sql::Tx& tx, std::string_view user_id) {
    std::vector<TokenRecord> out;
    for (const auto& r : tx.query(std::string("SELECT ") + kTokenColumns +
                                      " FROM api_tokens t WHERE t.user_id = $1 AND t.revoked_at IS NULL "
                                      "ORDER BY t.created_at DESC, t.id",
                                  {std::string(user_id)}))
        out.push_back(read_token(r));
    return out;
}

std::optional<TokenRecord> TokenRepository::find(sql::Tx& tx, std::string_view id) {
    auto r = tx.query_one(std::string("SELECT ") + kTokenColumns + " FROM api_tokens t WHERE t.id = $1",
                          {std::string(id)});
    if (!r) return std::nullopt;
    return read_token(*r);
}

bool TokenRepository::revoke(sql::Tx& tx, std::string_view id, Millis at) {
    return tx.exec("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                   {std::string(id), at}) > 0;
}

void TokenRepository::touch(sql::Tx& tx, std::string_view id, Millis at) {
    tx.exec("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", {std::string(id), at});
}

void BrowserSessionRepository::insert(sql::Tx& tx, const BrowserSession& s) {
    tx.exec(
        "INSERT INTO browser_sessions (id, user_id, token_hash, csrf_token, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {s.id, s.user_id, s.token_hash, s.csrf_token, s.created_at, s.expires_at});
}

std::optional<std::pair<BrowserSession, UserRecord>> BrowserSessionRepository::find_by_hash(sql::Tx& tx,
                                                                                            std::string_view hash) {
    auto r = tx.query_one(std::string("SELECT s.id, s.user_id, s.token_hash, s.csrf_token, s.created_at, s.expires_at, ") +
                              kUserColumns + " FROM browser_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
                          {std::string(hash)});
    if (!r) return std::nullopt;
    BrowserSession s;
    s.id = r->str(0);
    s.user_id = r->str(1);
    s.token_hash = r->str(2);
    s.csrf_token = r->str(3);
    s.created_at = r->i64(4);
    s.expires_at = r->i64(5);
    return std::make_pair(std::move(s), read_user(*r, 6));
}

void BrowserSessionRepository::remove(sql::Tx& tx, std::string_view id) {
    tx.exec("DELETE FROM browser_sessions WHERE id = $1", {std::string(id)});
}

void BrowserSessionRepository::remove_expired(sql::Tx& tx, Millis now) {
    tx.exec("DELETE FROM browser_sessions WHERE expires_at < $1", {now});
}

void BrowserSessionRepository::remove_for_user(sql::Tx& tx, std::string_view user_id, std::string_view keep) {
    tx.exec("DELETE FROM browser_sessions WHERE user_id = $1 AND id <> $2", {std::string(user_id), std::string(keep)});
}

}  // namespace silo
