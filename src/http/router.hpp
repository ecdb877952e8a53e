// The route table and the request pipeline that runs before every handler:
// match -> (body read by the server) -> authenticate -> authorise by the route's access level
// -> read-only guard -> handler. Handlers never check roles themselves. Beast-free.
#pragma once

#include "http/types.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace silo::http {

// Who may call a route. The route table is the single place where this is decided.
enum class Access { public_, viewer, editor, admin };
const char* access_name(Access a);

// How the server reads a route's request body.
enum class BodyKind {
    none,    // no body expected (a small one is read and ignored)
    json,    // buffered in memory up to server.max_json_bytes (JSON or form)
    upload,  // streamed to a temporary file up to server.max_upload_bytes
};

// How long a route's handler may hold its thread. A slow one (Argon2id password hashing; an
// upload's hashing and fsync) runs on the server's pool, so that it does not hold up the other
// connections of the worker that read the request.
enum class Pace { quick, slow };

using Handler = std::function<Result<HttpResponse>(HttpRequest&)>;

struct Route {
    std::string method;
    std::string pattern;  // "/api/items/{partNumber}"
    Access access = Access::viewer;
    BodyKind body = BodyKind::none;
    Pace pace = Pace::quick;
    Handler handler;
    bool is_slow() const { return pace == Pace::slow || body == BodyKind::upload; }
    // Writes are refused with 503 read_only when server.read_only is set.
    bool is_write() const { return method != "GET" && method != "HEAD"; }

    struct Segment {
        std::string text;  // literal text, or the parameter name
        bool param = false;
    };
    std::vector<Segment> segments;
};

struct RouteMatch {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    Error error;        // when route is null: not_found, method_not_allowed or bad_request
    std::string allow;  // for method_not_allowed: the Allow header value
};

// Decodes application/x-www-form-urlencoded text (a query string, a form body) into its
// parameters (the first of repeated names wins). bad_request naming the parameter, as a
// `what` ("query parameter", "form field"), on a malformed %-escape or decoded text that breaks
// the text rule (core/strings.hpp: not UTF-8, a control character).
Result<std::map<std::string, std::string>> parse_urlencoded(std::string_view text, const char* what);

// Splits a request target into its raw path and decoded query parameters (parse_urlencoded).
Result<std::pair<std::string, std::map<std::string, std::string>>> parse_target(std::string_view target);

class Router {
public:
    // Hooks installed by the composition root. authenticate returns the caller or
    // unauthorized; it is called for every non-public route. When unset, every request runs as
    // a synthetic admin (auth.enabled: false). authorize_write runs after the role check for
    // non-GET routes (CSRF for cookie sessions).
    std::function<Result<Principal>(HttpRequest&)> authenticate;
    std::function<Status(const Route&, const HttpRequest&)> authorize_write;
    bool read_only = false;

    void add(std::string method, std::string pattern, Access access, BodyKind body, Handler h,
             Pace pace = Pace::quick);

    // Finds the route for a method and raw path. Literal segments beat parameters. HEAD
    // matches the GET route (the server then sends the answer's header only).
    RouteMatch match(std::string_view method, std::string_view raw_path) const;

    // The error answer for a failed match (adds Allow on 405).
    static HttpResponse reject(const RouteMatch& m);

    // Runs the pipeline for a matched request (on a worker thread: handlers may block).
    // Never throws: exceptions become 500 internal with a logged cause.
    HttpResponse handle(const RouteMatch& m, HttpRequest& req) const;

    const std::vector<Route>& routes() const { return routes_; }
    // [{method, path, access, body}] for `silod --print-routes` and the authorisation tests.
    nlohmann::json describe() const;

private:
    std::vector<Route> routes_;
};

}  // namespace silo::http
