#include "http/request_head.hpp"

#include "http/router.hpp"

#include <cctype>
#include <iterator>

namespace silo::http {

Status read_request_head(const boost::beast::http::request_header<>& h, const HeadLimits& limits, HttpRequest& req) {
    if (static_cast<std::size_t>(std::distance(h.begin(), h.end())) > limits.max_header_fields)
        return Error(Errc::headers_too_large, "more than " + std::to_string(limits.max_header_fields) + " header fields");
    req.method = std::string(h.method_string());
    req.target = std::string(h.target());
    for (const auto& f : h) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, inserted] = req.headers.emplace(name, std::string(f.value()));
        if (!inserted) it->second += ", " + std::string(f.value());
    }
    if (req.target.size() > limits.max_request_line) return Error(Errc::uri_too_long, "the request target is too long");
    if (auto id = req.header("x-request-id"); !id.empty() && id.size() <= 64) {
        bool ok = true;
        for (char c : id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
        if (ok) req.request_id = id;
    }
    auto target = parse_target(req.target);
    if (!target) return target.error();
    req.path = std::move(target->first);
    req.query = std::move(target->second);
    return {};
}

}  // namespace silo::http
