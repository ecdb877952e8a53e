#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/json_null.hpp"
#include "core/strings.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;
using http::Pace;

namespace {

json me_json(const Principal& p) {
    return {{"id", p.synthetic ? "00000000-0000-0000-0000-000000000000" : p.user_id},
            {"username", p.username},
            {"display_name", p.display_name},
            {"email", p.email},
            {"role", role_name(p.role)},
            {"auth_source", p.synthetic ? "synthetic" : p.auth_source}};
}

json token_json(const TokenRecord& t) {
    return {{"id", t.id},
            {"name", t.name},
            {"created_at", format_rfc3339(t.created_at)},
            {"expires_at", time_or_null(t.expires_at)},
            {"last_used_at", time_or_null(t.last_used_at)}};
}

// The browser session cookie's attributes. Secure when the request reached silod through
// TLS at a reverse proxy that says so (X-Forwarded-Proto: https, or Forwarded: proto=https):
// the header can only make the cookie stricter, so it needs no trust.
std::string cookie_attributes(const HttpRequest& req, Millis max_age) {
    auto proto = to_lower(trim(split(req.header("x-forwarded-proto"), ',').front()));
    auto forwarded = to_lower(req.header("forwarded"));
    bool tls = proto == "https" || forwarded.find("proto=https") != std::string::npos;
    return "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age / 1000) + (tls ? "; Secure" : "");
}

// Login accepts JSON or an HTML form.
Result<std::pair<std::string, std::string>> login_credentials(const HttpRequest& req) {
    auto ct = to_lower(req.header("content-type"));
    if (ct.rfind("application/x-www-form-urlencoded", 0) == 0) {
        SILO_TRY(auto form, http::parse_urlencoded(req.body, "form field"));
        auto u = form["username"], p = form["password"];
        if (u.empty() || p.empty()) return bad_request("the form fields username and password are required");
        return std::make_pair(u, p);
    }
    auto parsed = parse_object(req);
    if (!parsed && parsed.error().code == Errc::unsupported_media_type)
        return Error(Errc::unsupported_media_type,
                     "send application/json {username, password} or an application/x-www-form-urlencoded form");
    SILO_TRY(auto body, std::move(parsed));
    SILO_TRY(auto u, req_string(body, "username", 256));
    SILO_TRY(auto p, req_string(body, "password", 4096));
    return std::make_pair(u, p);
}

}  // namespace

json user_json(const UserRecord& u) {
    return {{"id", u.id},
            {"username", u.username},
            {"display_name", u.display_name},
            {"email", u.email},
            {"role", role_name(u.role)},
            {"active", u.active},
            {"auth_source", u.auth_source},
            {"created_at", format_rfc3339(u.created_at)},
            {"updated_at", format_rfc3339(u.updated_at)}};
}

void add_auth_routes(http::Router& router, AuthService& auth, bool auth_enabled) {
    router.add("POST", "/login", Access::public_, BodyKind::json, [&auth, auth_enabled](HttpRequest& req) -> Result<HttpResponse> {
        if (!auth_enabled) return bad_request("authentication is disabled on this server (auth.enabled: false)");
        SILO_TRY(auto creds, login_credentials(req));
        SILO_TRY(auto out, auth.login(creds.first, creds.second, req.remote_addr));
        auto resp = HttpResponse::json(200, {{"user", user_json(out.user)}, {"csrf_token", out.csrf_token},
                                             {"expires_at", format_rfc3339(out.expires_at)}});
        resp.with_header("Set-Cookie", std::string(kSessionCookie) + "=" + out.session_secret +
                                           cookie_attributes(req, kBrowserSessionLifetime));
        resp.with_header("X-CSRF-Token", out.csrf_token);
        resp.with_header("Cache-Control", "no-store");
        return resp;
    }, Pace::slow);  // Argon2id

    router.add("POST", "/logout", Access::public_, BodyKind::json, [&auth](HttpRequest& req) -> Result<HttpResponse> {
        auth.logout(req.header("cookie"));
        auto resp = HttpResponse::no_content();
        resp.with_header("Set-Cookie", std::string(kSessionCookie) + "=" + cookie_attributes(req, 0));
        return resp;
    });

    router.add("GET", "/api/auth/me", Access::viewer, BodyKind::none, [](HttpRequest& req) -> Result<HttpResponse> {
        return HttpResponse::json(200, me_json(req.principal));
    });

    router.add("GET", "/api/auth/tokens", Access::viewer, BodyKind::none, [&auth](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto paging, parse_paging(req));
        SILO_TRY(auto tokens, auth.list_tokens(req.principal));
        json arr = json::array();
        for (const auto& t : tokens) arr.push_back(token_json(t));
        return paged_response(arr, paging);
    });

    router.add("POST", "/api/auth/tokens", Access::viewer, BodyKind::json, [&auth](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        SILO_TRY(auto name, req_string(body, "name", 100));
        SILO_TRY(auto days, opt_int(body, "expires_in_days", 1, 3650));
        std::optional<int> d;
        if (days) d = static_cast<int>(*days);
        SILO_TRY(auto created, auth.create_token(req.principal, name, d));
        auto j = token_json(created.record);
        j.erase("last_used_at");
        j["token"] = created.secret;
        auto resp = HttpResponse::json(201, j);
        resp.with_header("Cache-Control", "no-store");
        return resp;
    });

    router.add("DELETE", "/api/auth/tokens/{id}", Access::viewer, BodyKind::none, [&auth](HttpRequest& req) -> Result<HttpResponse> {
        SILO_CHECK(auth.revoke_token(req.principal, req.param("id")));
        return HttpResponse::no_content();
    });
}

void add_user_routes(http::Router& router, UserService& users) {
    router.add("GET", "/api/admin/users", Access::admin, BodyKind::none, [&users](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto paging, parse_paging(req));
        SILO_TRY(auto page, users.list(paging.limit, paging.offset));
        json arr = json::array();
        for (const auto& u : page.users) arr.push_back(user_json(u));
        return list_response(arr, page.total);
    });

    router.add("POST", "/api/admin/users", Access::admin, BodyKind::json, [&users](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        NewUser in;
        SILO_TRY(in.username, req_string(body, "username", 64));
        SILO_TRY(in.password, req_string(body, "password", 4096));
        SILO_TRY(auto role, req_string(body, "role", 16));
        auto r = parse_role(role);
        if (!r) return bad_request("role must be one of viewer, editor, admin");
        in.role = *r;
        SILO_TRY(auto dn, opt_string(body, "display_name", 200));
        SILO_TRY(auto email, opt_string(body, "email", 320));
        in.display_name = dn.value_or("");
        in.email = email.value_or("");
        SILO_TRY(auto u, users.create(req.principal, in));
        return HttpResponse::json(201, user_json(u));
    }, Pace::slow);  // Argon2id

    router.add("PATCH", "/api/admin/users/{username}", Access::admin, BodyKind::json, [&users](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        UserPatch patch;
        SILO_TRY(auto role, opt_string(body, "role", 16));
        if (role) {
            auto r = parse_role(*role);
            if (!r) return bad_request("role must be one of viewer, editor, admin");
            patch.role = *r;
        }
        SILO_TRY(patch.active, opt_bool(body, "active"));
        SILO_TRY(patch.password, opt_string(body, "password", 4096));
        SILO_TRY(patch.display_name, opt_string(body, "display_name", 200));
        SILO_TRY(patch.email, opt_string(body, "email", 320));
        SILO_TRY(auto u, users.update(req.principal, req.param("username"), patch));
        return HttpResponse::json(200, user_json(u));
    }, Pace::slow);  // Argon2id when the password changes
}

}  // namespace silo::api
