#include "http/router.hpp"

#include "core/log.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <set>

namespace silo::http {

const char* access_name(Access a) {
    switch (a) {
        case Access::public_: return "public";
        case Access::viewer: return "viewer";
        case Access::editor: return "editor";
        case Access::admin: return "admin";
    }
    return "viewer";
}

Result<std::map<std::string, std::string>> parse_urlencoded(std::string_view text, const char* what) {
    std::map<std::string, std::string> out;
    for (auto part : split(text, '&')) {
        if (part.empty()) continue;
        size_t eq = part.find('=');
        auto key = percent_decode(part.substr(0, eq), true);
        if (!key) return bad_request(std::string("a ") + what + " name " + key.error().message);
        auto val = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
        if (!val) return bad_request(std::string("the ") + what + " '" + *key + "' " + val.error().message);
        out.emplace(std::move(*key), std::move(*val));
    }
    return out;
}

Result<std::pair<std::string, std::map<std::string, std::string>>> parse_target(
    std::string_view target) {
    size_t q = target.find('?');
    std::string path(target.substr(0, q));
    if (path.empty() || path.front() != '/') return bad_request("the request target must be an absolute path");
    std::map<std::string, std::string> query;
    if (q != std::string_view::npos) {
        SILO_TRY(query, parse_urlencoded(target.substr(q + 1), "query parameter"));
    }
    return std::make_pair(std::move(path), std::move(query));
}

void Router::add(std::string method, std::string pattern, Access access, BodyKind body, Handler h, Pace pace) {
    Route r;
    r.method = std::move(method);
    r.pattern = std::move(pattern);
    r.access = access;
    r.body = body;
    r.pace = pace;
    r.handler = std::move(h);
    for (auto seg : split(std::string_view(r.pattern).substr(1), '/')) {
        if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}')
            r.segments.push_back({std::string(seg.substr(1, seg.size() - 2)), true});
        else
            r.segments.push_back({std::string(seg), false});
    }
    routes_.push_back(std::move(r));
}

RouteMatch Router::match(std::string_view method, std::string_view raw_path) const {
    RouteMatch out;
    auto segs = split(raw_path.substr(raw_path.empty() ? 0 : 1), '/');
    const Route* best = nullptr;
    int best_literals = -1;
    std::set<std::string> allowed;
    int allowed_literals = -1;
    for (const auto& r : routes_) {
        if (r.segments.size() != segs.size()) continue;
        int literals = 0;
        bool ok = true;
        for (size_t i = 0; i < segs.size() && ok; ++i) {
            if (r.segments[i].param) ok = !segs[i].empty();
            else if (r.segments[i].text == segs[i]) ++literals;
            else ok = false;
        }
        if (!ok) continue;
        // HEAD is GET without the body (RFC 9110 §9.3.2): every GET route answers it.
        if (r.method == method || (method == "HEAD" && r.method == "GET")) {
            if (literals > best_literals) {
                best = &r;
                best_literals = literals;
            }
        } else if (literals >= allowed_literals) {
            if (literals > allowed_literals) allowed.clear();
            allowed_literals = literals;
            allowed.insert(r.method);
            if (r.method == "GET") allowed.insert("HEAD");
        }
    }
    if (!best) {
        if (allowed.empty()) {
            out.error = not_found("no route for " + std::string(method) + " " + std::string(raw_path));
        } else {
            out.error = Error(Errc::method_not_allowed,
                              "method " + std::string(method) + " is not allowed on this resource");
            for (const auto& m : allowed) out.allow += (out.allow.empty() ? "" : ", ") + m;
        }
        return out;
    }
    for (size_t i = 0; i < segs.size(); ++i) {
        if (!best->segments[i].param) continue;
        auto v = percent_decode(segs[i]);
        if (!v) {
            out.error = bad_request("the path parameter " + best->segments[i].text + " " + v.error().message);
            return out;
        }
        out.params[best->segments[i].text] = std::move(*v);
    }
    out.route = best;
    return out;
}

HttpResponse Router::reject(const RouteMatch& m) {
    auto resp = HttpResponse::error(m.error);
    if (!m.allow.empty()) resp.with_header("Allow", m.allow);
    return resp;
}

HttpResponse Router::handle(const RouteMatch& m, HttpRequest& req) const {
    const Route& route = *m.route;
    req.params = m.params;
    try {
        if (route.access != Access::public_) {
            if (authenticate) {
                auto who = authenticate(req);
                if (!who) return HttpResponse::error(who.error());
                req.principal = std::move(*who);
            } else {
                req.principal = Principal{};
                req.principal.user_id = "00000000-0000-0000-0000-000000000000";
                req.principal.username = "admin";
                req.principal.display_name = "Development admin";
                req.principal.role = Role::admin;
                req.principal.synthetic = true;
            }
            Role need = route.access == Access::admin    ? Role::admin
                        : route.access == Access::editor ? Role::editor
                                                         : Role::viewer;
            if (!role_at_least(req.principal.role, need))
                return HttpResponse::error(
                    forbidden(std::string("this route needs the ") + role_name(need) + " role"));
        }
        if (route.is_write() && read_only && route.access != Access::public_)
            return HttpResponse::error(
                Error(Errc::read_only, "the server is in read-only mode"));
        if (route.is_write() && authorize_write) {
            auto st = authorize_write(route, req);
            if (!st.ok()) return HttpResponse::error(st.error());
        }
        auto r = route.handler(req);
        if (!r) return HttpResponse::error(r.error());
        return std::move(*r);
    } catch (const std::exception& e) {
        log::error("handler threw", {{"request_id", req.request_id}, {"route", route.pattern}, {"what", e.what()}});
    } catch (...) {
        log::error("handler threw", {{"request_id", req.request_id}, {"route", route.pattern}});
    }
    return HttpResponse::error(internal_error("internal error; see the server log"));
}

nlohmann::json Router::describe() const {
    auto out = nlohmann::json::array();
    for (const auto& r : routes_)
        out.push_back({{"method", r.method},
                       {"path", r.pattern},
                       {"access", access_name(r.access)},
                       {"body", r.body == BodyKind::none   ? "none"
                                : r.body == BodyKind::json ? "json"
                                                           : "upload"}});
    return out;
}

}  // namespace silo::http
