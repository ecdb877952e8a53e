// JSON request bodies (issue 13): any bytes as a body, through parse_object and the typed
// field readers every api adapter uses. A body it accepts holds text that keeps the text rule
// at every depth, and nests at most 64 levels.
#include "api/json_io.hpp"
#include "core/strings.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace silo;
using nlohmann::json;

namespace {

void check(const json& v, int depth) {
    if (depth > 64) __builtin_trap();
    if (v.is_string() && text_problem(v.get_ref<const std::string&>())) __builtin_trap();
    if (v.is_object())
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (text_problem(it.key())) __builtin_trap();
            check(it.value(), depth + 1);
        }
    if (v.is_array())
        for (const auto& e : v) check(e, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http::HttpRequest req;
    req.body.assign(reinterpret_cast<const char*>(data), size);
    req.headers["content-type"] = "application/json";
    auto body = api::parse_object(req);
    if (!body) {
        if (body.error().code != Errc::bad_request) __builtin_trap();
        return 0;
    }
    check(*body, 1);
    for (const char* key : {"part_number", "message", "reason", "username", "password", "description"}) {
        (void)api::opt_string(*body, key, 4096);
        (void)api::req_string(*body, key, 4096);
        (void)api::opt_bool(*body, key);
        (void)api::opt_int(*body, key, 0, 3650);
    }
    return 0;
}
