// Request targets (issue 13): the query string and path parameters as silod decodes them
// (percent-decoding, the text rule), matched against routes shaped like silod's, and the
// Last-Event-ID value. Every decoded value must keep the text rule.
#include "core/strings.hpp"
#include "http/router.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace silo;
using namespace silo::http;

namespace {

const Router& router() {
    static const Router r = [] {
        Router out;
        auto ok = [](HttpRequest&) -> Result<HttpResponse> { return HttpResponse::no_content(); };
        for (const char* p : {"/api/items", "/api/items/{partNumber}", "/api/items/by-uuid/{uuid}",
                              "/api/items/{partNumber}/file/{rev}", "/api/items/{partNumber}/edit-sessions/{sessionId}",
                              "/api/items/{partNumber}/edit-sessions/{sessionId}/force-release",
                              "/api/approvals/{id}/sign", "/api/admin/users/{username}", "/api/events", "/health"})
            out.add("GET", p, Access::viewer, BodyKind::none, ok);
        out.add("POST", "/api/items", Access::editor, BodyKind::json, ok);
        out.add("DELETE", "/api/items/{partNumber}", Access::editor, BodyKind::none, ok);
        return out;
    }();
    return r;
}

void check_text(const std::string& s) {
    if (text_problem(s)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string target(reinterpret_cast<const char*>(data), size);
    (void)parse_int(trim(target));  // Last-Event-ID
    auto parsed = parse_target(target);
    if (!parsed) return 0;
    for (const auto& [k, v] : parsed->second) {
        check_text(k);
        check_text(v);
    }
    for (const char* method : {"GET", "POST", "DELETE", "HEAD", "PATCH"}) {
        auto m = router().match(method, parsed->first);
        if (m.route)
            for (const auto& [k, v] : m.params) check_text(v);
        else if (m.error.message.empty())
            __builtin_trap();  // a refusal always says why
    }
    return 0;
}
