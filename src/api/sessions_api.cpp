#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/ids.hpp"
#include "domain/part_number.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

namespace {

Result<std::vector<std::string>> string_list(const json& obj, const char* key) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return out;
    if (!it->is_array()) return bad_request(std::string("'") + key + "' must be an array of strings");
    for (const auto& v : *it) {
        if (!v.is_string()) return bad_request(std::string("'") + key + "' must be an array of strings");
        out.push_back(v.get<std::string>());
    }
    return out;
}

json session_list(const std::vector<SessionRecord>& list) {
    json arr = json::array();
    for (const auto& s : list) arr.push_back(session_json(s));
    return arr;
}

}  // namespace

void add_session_routes(http::Router& router, SessionService& sessions) {
    router.add("POST", "/api/items/{partNumber}/edit-sessions", Access::editor, BodyKind::json,
               [&sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto body, parse_object(req));
                   AcquireInput in;
                   SILO_TRY(in.workstation_id, req_string(body, "workstation_id", 64));
                   SILO_TRY(in.context_level, req_string(body, "context_level", 32));
                   SILO_TRY(in.object_id, req_string(body, "object_id", 256));
                   SILO_TRY(in.dependency_cone, string_list(body, "dependency_cone"));
                   SILO_TRY(auto r, sessions.acquire(req.principal, req.param("partNumber"), in));
                   json out = session_json(r.session);
                   out["session_id"] = r.session.id;
                   out["interference"] = r.conflicts.empty() ? "none" : "soft";
                   out["conflicts"] = json::array();
                   for (const auto& c : r.conflicts)
                       out["conflicts"].push_back({{"session_id", c.session_id}, {"user", c.username},
                                                   {"object_id", c.object_id}, {"shared_nodes", c.shared_nodes}});
                   return HttpResponse::json(200, out);
               });

    router.add("GET", "/api/items/{partNumber}/edit-sessions", Access::viewer, BodyKind::none,
               [&sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_TRY(auto paging, parse_paging(req));
                   SILO_TRY(auto list, sessions.list_for_item(req.param("partNumber")));
                   return paged_response(session_list(list), paging);
               });

    router.add("GET", "/api/edit-sessions", Access::admin, BodyKind::none, [&sessions](HttpRequest& req) -> Result<HttpResponse> {
        SILO_CHECK(sessions.check_enabled());
        SILO_TRY(auto paging, parse_paging(req));
        SessionFilter f;
        f.user = req.query_param("user");
        f.workstation_id = req.query_param("workstation_id");
        // A filter value that names nothing that could exist is a mistake, not an empty list.
        if (!f.user.empty() && !valid_part_number(f.user)) return bad_request("user must be a username");
        if (!f.workstation_id.empty()) {
            if (!is_uuid(f.workstation_id)) return bad_request("workstation_id must be a UUID");
            f.workstation_id = to_lower_uuid(f.workstation_id);
        }
        SILO_TRY(auto list, sessions.list_all(f));
        return paged_response(session_list(list), paging);
    });

    router.add("DELETE", "/api/items/{partNumber}/edit-sessions/{sessionId}", Access::editor, BodyKind::none,
               [&sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_CHECK(sessions.release(req.principal, req.param("partNumber"), req.param("sessionId")));
                   return HttpResponse::no_content();
               });

    router.add("PUT", "/api/items/{partNumber}/edit-sessions/{sessionId}/work", Access::editor, BodyKind::upload,
               [&sessions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(sessions.check_enabled());
                   SILO_CHECK(require_bytes(req.body_file.empty() ? 0 : req.body_size, "the request body (the work file)"));
                   SILO_TRY(auto s, sessions.put_work(req.principal, req.param("partNumber"), req.param("sessionId"),
                                                      req.body_file));
                   return HttpResponse::json(200, {{"session_id", s.id}, {"file_size", s.work_size}, {"file_hash", s.work_hash}});
               });
}

}  // namespace silo::api
