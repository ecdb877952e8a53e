#include "api/json_io.hpp"

#include "core/strings.hpp"

namespace silo::api {

namespace {

// The first string (member name or value) of v that breaks the text rule, as an error naming
// where it is ("'signers[0].username' contains the control character U+0000").
std::optional<Error> text_error(const json& v, const std::string& at) {
    auto where = [&](const std::string& what) { return at.empty() ? std::string("the body") : "'" + what + "'"; };
    if (v.is_string()) {
        if (auto p = text_problem(v.get_ref<const std::string&>())) return bad_request(where(at) + " " + *p);
    } else if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            auto path = at.empty() ? it.key() : at + "." + it.key();
            if (auto p = text_problem(it.key())) return bad_request("a member name in " + where(at) + " " + *p);
            if (auto e = text_error(it.value(), path)) return e;
        }
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i)
            if (auto e = text_error(v[i], at + "[" + std::to_string(i) + "]")) return e;
    }
    return std::nullopt;
}

}  // namespace

Result<json> parse_object(const http::HttpRequest& req) {
    if (trim(req.body).empty()) return json::object();
    const auto& ct = req.header("content-type");
    auto media = to_lower(trim(std::string_view(ct).substr(0, ct.find(';'))));
    if (media != "application/json" && !(media.size() > 5 && media.ends_with("+json")))
        return Error(Errc::unsupported_media_type, "the request body must be application/json");
    if (!valid_utf8(req.body)) return bad_request("the request body is not valid UTF-8");
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return bad_request("the request body is not valid JSON");
    if (!body.is_object()) return bad_request("the request body must be a JSON object");
    if (auto e = text_error(body, "")) return std::move(*e);
    return body;
}

Result<std::optional<std::string>> opt_string(const json& obj, const char* key, std::size_t max_len) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
    if (!it->is_string()) return bad_request(std::string("'") + key + "' must be a string");
    auto s = it->get<std::string>();
    if (s.size() > max_len)
        return bad_request(std::string("'") + key + "' must be at most " + std::to_string(max_len) + " bytes");
    return std::optional<std::string>(std::move(s));
}

Result<std::string> req_string(const json& obj, const char* key, std::size_t max_len) {
    SILO_TRY(auto v, opt_string(obj, key, max_len));
    if (!v || blank(*v)) return bad_request(std::string("'") + key + "' is required");
    return std::move(*v);
}

Result<std::optional<bool>> opt_bool(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<bool>{};
    if (!it->is_boolean()) return bad_request(std::string("'") + key + "' must be true or false");
    return std::optional<bool>(it->get<bool>());
}

Result<std::optional<std::int64_t>> opt_int(const json& obj, const char* key, std::int64_t min, std::int64_t max) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::int64_t>{};
    if (!it->is_number_integer())
        return bad_request(std::string("'") + key + "' must be a whole number");
    auto v = it->get<std::int64_t>();
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) v = max + 1;
    if (v < min || v > max)
        return bad_request(std::string("'") + key + "' must be from " + std::to_string(min) + " to " + std::to_string(max));
    return std::optional<std::int64_t>(v);
}

Status require_bytes(std::int64_t size, const char* what) {
    if (size <= 0) return bad_request(std::string(what) + " is empty: send the file's bytes");
    return {};
}

Result<Paging> parse_paging(const http::HttpRequest& req) {
    Paging p;
    if (req.has_query("limit")) {
        auto v = parse_int(req.query_param("limit"));
        if (!v || *v < 1 || *v > 1000) return bad_request("limit must be a whole number from 1 to 1000");
        p.limit = *v;
    }
    if (req.has_query("offset")) {
        auto v = parse_int(req.query_param("offset"));
        if (!v) return bad_request("offset must be a whole number of at least 0");
        p.offset = *v;
    }
    return p;
}

http::HttpResponse list_response(const json& array, std::int64_t total) {
    auto r = http::HttpResponse::json(200, array);
    r.with_header("X-Total-Count", std::to_string(total));
    return r;
}

http::HttpResponse paged_response(const json& all, const Paging& paging) {
    auto total = static_cast<std::int64_t>(all.size());
    json page = json::array();
    for (std::int64_t i = paging.offset; i < total && i < paging.offset + paging.limit; ++i)
        page.push_back(all[static_cast<std::size_t>(i)]);
    return list_response(page, total);
}

}  // namespace silo::api
