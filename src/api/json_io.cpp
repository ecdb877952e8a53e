#include "api/json_io.hpp"

#include "core/strings.hpp"

namespace silo::api {

namespace {

// Deeper JSON than any request of the API needs is refused (400), so that nothing walks an
// attacker's nesting: the parser itself does not recurse, and neither does this walk.
constexpr std::size_t kMaxDepth = 64;

// Walks every string of the body (member names and values) with an explicit stack and checks
// the text rule. The error names where the bad string is ("'signers[0].username' contains the
// control character U+0000"); the path is built only then.
std::optional<Error> text_error(const json& body) {
    struct Frame {
        const json* node;
        json::const_iterator it;  // objects: the next member
        std::size_t index = 0;    // arrays: the next element
    };
    std::vector<Frame> stack{{&body, body.begin()}};
    // Where the element last visited in stack[0..frames) is: "'signers[0].username'".
    auto where = [&](std::size_t frames) {
        std::string out;
        for (std::size_t i = 0; i < frames; ++i) {
            const auto& f = stack[i];
            if (f.node->is_object())
                out += (out.empty() ? "" : ".") + std::prev(f.it).key();
            else
                out += "[" + std::to_string(f.index - 1) + "]";
        }
        return out.empty() ? std::string("the body") : "'" + out + "'";
    };
    while (!stack.empty()) {
        auto& f = stack.back();
        const json* child = nullptr;
        if (f.node->is_object()) {
            if (f.it == f.node->end()) {
                stack.pop_back();
                continue;
            }
            child = &f.it.value();
            ++f.it;
            if (auto p = text_problem(std::prev(f.it).key()))
                return bad_request("a member name in " + where(stack.size() - 1) + " " + *p);
        } else {
            if (f.index == f.node->size()) {
                stack.pop_back();
                continue;
            }
            child = &(*f.node)[f.index++];
        }
        if (child->is_string()) {
            if (auto p = text_problem(child->get_ref<const std::string&>()))
                return bad_request(where(stack.size()) + " " + *p);
        } else if (child->is_object() || child->is_array()) {
            if (stack.size() >= kMaxDepth)
                return bad_request("the body nests deeper than " + std::to_string(kMaxDepth) + " levels");
            stack.push_back({child, child->begin()});
        }
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
    if (auto e = text_error(body)) return std::move(*e);
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
