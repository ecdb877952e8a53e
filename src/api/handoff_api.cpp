// Handoff requests and force-release (API.md §7).
#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/json_null.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

namespace {

// Texts are limited to 2000 characters (API.md §7), which the service counts; here only a
// byte ceiling that any 2000-character UTF-8 text fits under.
constexpr std::size_t kTextBytes = 4 * 2000;

Result<std::vector<std::string>> usernames(const json& body, const char* key) {
    std::vector<std::string> out;
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return out;
    if (!it->is_array()) return bad_request(std::string("'") + key + "' must be an array of usernames");
    for (const auto& v : *it) {
        if (!v.is_string() || v.get<std::string>().empty())
            return bad_request(std::string("'") + key + "' must be an array of usernames");
        out.push_back(v.get<std::string>());
    }
    return out;
}

}  // namespace

void add_handoff_routes(http::Router& router, HandoffService& handoffs, const SessionService& sessions) {
    router.add("POST", "/api/items/{partNumber}/edit-sessions/{sessionId}/request-handoff", Access::editor, BodyKind::json,
               [&handoffs, &sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto body, parse_object(req));
                   SILO_TRY(auto message, opt_string(body, "message", kTextBytes));
                   SILO_TRY(auto out, handoffs.request(req.principal, req.param("partNumber"), req.param("sessionId"),
                                                       message.value_or("")));
                   return HttpResponse::json(202, {{"handoff_id", out.request.id},
                                                   {"status", out.request.status},
                                                   {"delivered", out.delivered}});
               });

    router.add("POST", "/api/handoff-requests/{id}/decline", Access::editor, BodyKind::json,
               [&handoffs, &sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto body, parse_object(req));
                   SILO_TRY(auto message, opt_string(body, "message", kTextBytes));
                   SILO_TRY(auto h, handoffs.decline(req.principal, req.param("id"), message.value_or("")));
                   return HttpResponse::json(200, handoff_json(h));
               });

    router.add("GET", "/api/handoff-requests", Access::viewer, BodyKind::none,
               [&handoffs, &sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto paging, parse_paging(req));
                   SILO_TRY(auto page, handoffs.list(req.principal, req.query_param("session_id"), req.query_param("status"),
                                                     paging.limit, paging.offset));
                   json arr = json::array();
                   for (const auto& h : page.requests) arr.push_back(handoff_json(h));
                   return list_response(arr, page.total);
               });

    router.add("DELETE", "/api/items/{partNumber}/edit-sessions/{sessionId}/force-release", Access::admin, BodyKind::json,
               [&handoffs, &sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto body, parse_object(req));
                   SILO_TRY(auto reason, opt_string(body, "reason", kTextBytes));
                   if (!reason) return bad_request("'reason' is required: say why the session is force-released");
                   SILO_TRY(auto approvers, usernames(body, "approvers"));
                   SILO_TRY(auto out, handoffs.force_release(req.principal, req.param("partNumber"), req.param("sessionId"),
                                                             *reason, approvers));
                   using Kind = ForceReleaseOutcome::Kind;
                   if (out.kind == Kind::already_pending)
                       return Error(Errc::conflict, "a force-release of this session is already waiting for approval",
                                    {{"approval", approval_json(*out.approval)}});
                   if (out.kind == Kind::pending_approval)
                       return HttpResponse::json(202, {{"status", "pending_approval"}, {"approval", approval_json(*out.approval)}});
                   return HttpResponse::json(200, {{"status", "released"},
                                                   {"session_id", out.session_id},
                                                   {"checkpoint_id", value_or_null(out.checkpoint_id)}});
               });
}

}  // namespace silo::api
