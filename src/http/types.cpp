#include "http/types.hpp"

namespace silo::http {

namespace {
const std::string kEmpty;
const std::string& lookup(const std::map<std::string, std::string>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? kEmpty : it->second;
}
}  // namespace

const std::string& HttpRequest::header(const std::string& name) const { return lookup(headers, name); }
const std::string& HttpRequest::query_param(const std::string& name) const {
    return lookup(query, name);
}
const std::string& HttpRequest::param(const std::string& name) const { return lookup(params, name); }

int status_for(Errc code) {
    switch (code) {
        case Errc::bad_request: return 400;
        case Errc::unauthorized: return 401;
        case Errc::forbidden: return 403;
        case Errc::not_found: return 404;
        case Errc::module_disabled: return 404;
        case Errc::method_not_allowed: return 405;
        case Errc::conflict: return 409;
        case Errc::hard_interference: return 409;
        case Errc::payload_too_large: return 413;
        case Errc::uri_too_long: return 414;
        case Errc::unsupported_media_type: return 415;
        case Errc::too_many_requests: return 429;
        case Errc::headers_too_large: return 431;
        case Errc::read_only: return 503;
        case Errc::unavailable: return 503;
        case Errc::insufficient_storage: return 507;
        case Errc::internal: return 500;
    }
    return 500;
}

nlohmann::json error_body(const Error& e) {
    nlohmann::json j = nlohmann::json::object();
    if (e.extra.is_object())
        for (auto it = e.extra.begin(); it != e.extra.end(); ++it) j[it.key()] = it.value();
    j["error"] = errc_name(e.code);
    j["message"] = e.message;
    return j;
}

HttpResponse HttpResponse::json(int status, const nlohmann::json& body) {
    HttpResponse r;
    r.status = status;
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

HttpResponse HttpResponse::error(const Error& e) {
    return json(status_for(e.code), error_body(e));
}

HttpResponse HttpResponse::no_content() {
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

}  // namespace silo::http
