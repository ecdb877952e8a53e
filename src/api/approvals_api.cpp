// /api/workflows and /api/approvals (API.md §8): thin adapters over ApprovalService.
#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/json_null.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

json approval_json(const ApprovalRecord& a) {
    json signatures = json::array();
    for (const auto& s : a.signatures)
        signatures.push_back({{"username", s.username},
                              {"role", s.role},
                              {"status", s.status},
                              {"signed_at", format_rfc3339(s.signed_at)},
                              {"comment", s.comment}});
    json signers = json::array();
    for (const auto& s : a.signers) signers.push_back({{"username", s.username}, {"role", s.role}});
    return {{"id", a.id},
            {"item_id", a.item_id},
            {"part_number", a.part_number},
            {"workflow", a.workflow},
            {"eco_number", value_or_null(a.eco_number)},
            {"resource_type", a.resource_type},
            {"resource_id", a.resource_id},
            {"state", a.state},
            {"created_by", a.created_by},
            {"created_at", format_rfc3339(a.created_at)},
            {"updated_at", format_rfc3339(a.updated_at)},
            {"updated_by", a.updated_by},
            {"signers", std::move(signers)},
            {"signatures", std::move(signatures)}};
}

namespace {

json page_json(const ApprovalPage& page) {
    json arr = json::array();
    for (const auto& a : page.approvals) arr.push_back(approval_json(a));
    return arr;
}

// "signers": [{"username": "...", "role": "..."}] (absent or null: none).
Result<std::vector<Designation>> parse_signers(const json& body) {
    std::vector<Designation> out;
    auto it = body.find("signers");
    if (it == body.end() || it->is_null()) return out;
    if (!it->is_array()) return bad_request("'signers' must be an array of {username, role}");
    for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& e = (*it)[i];
        const auto at = "signers[" + std::to_string(i) + "]";
        if (!e.is_object()) return bad_request("'" + at + "' must be an object {username, role}");
        auto u = e.find("username");
        auto r = e.find("role");
        if (u == e.end() || !u->is_string() || u->get<std::string>().empty() ||
            u->get<std::string>().size() > 256)
            return bad_request("'" + at + ".username' must be a non-empty string");
        if (r == e.end() || !r->is_string() || r->get<std::string>().empty() ||
            r->get<std::string>().size() > 256)
            return bad_request("'" + at + ".role' must be a non-empty string");
        out.push_back({u->get<std::string>(), r->get<std::string>()});
    }
    return out;
}

Result<SignInput> parse_sign(const HttpRequest& req) {
    SILO_TRY(auto body, parse_object(req));
    SignInput in;
    SILO_TRY(in.status, req_string(body, "status", 64));
    SILO_TRY(auto comment, opt_string(body, "comment", 4000));
    if (comment) in.comment = std::move(*comment);
    return in;
}

}  // namespace

void add_workflow_routes(http::Router& router, ApprovalService& approvals) {
    router.add("GET", "/api/workflows", Access::viewer, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto paging, parse_paging(req));
                   json arr = json::array();
                   for (const auto& [name, wf] : approvals.workflows()) arr.push_back(wf.to_json());
                   return paged_response(arr, paging);
               });

    router.add("GET", "/api/workflows/{name}", Access::viewer, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   const auto& name = req.param("name");
                   const Workflow* wf = approvals.workflow(name);
                   if (!wf) return not_found("workflow '" + name + "' not found");
                   return HttpResponse::json(200, wf->to_json());
               });
}

void add_approval_routes(http::Router& router, ApprovalService& approvals) {
    router.add("GET", "/api/items/{partNumber}/approvals", Access::viewer, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto paging, parse_paging(req));
                   SILO_TRY(auto page, approvals.list_for_item(req.param("partNumber"),
                                                               paging.limit, paging.offset));
                   return list_response(page_json(page), page.total);
               });

    router.add("POST", "/api/items/{partNumber}/approvals", Access::editor, BodyKind::json,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto body, parse_object(req));
                   CreateApprovalInput in;
                   SILO_TRY(in.workflow, req_string(body, "workflow", 64));
                   SILO_TRY(in.eco_number, opt_string(body, "eco_number", 128));
                   SILO_TRY(in.signers, parse_signers(body));
                   SILO_TRY(auto draft, opt_bool(body, "draft"));
                   SILO_TRY(auto rtype, opt_string(body, "resource_type", 64));
                   SILO_TRY(auto rid, opt_string(body, "resource_id", 256));
                   in.draft = draft.value_or(false);
                   if (rtype) in.resource_type = *rtype;
                   if (rid) in.resource_id = *rid;
                   SILO_TRY(auto a, approvals.create(req.principal, req.param("partNumber"), in));
                   return HttpResponse::json(201, approval_json(a));
               });

    router.add("POST", "/api/items/{partNumber}/approvals/{id}/sign", Access::editor,
               BodyKind::json, [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto in, parse_sign(req));
                   SILO_TRY(auto a, approvals.sign(req.principal, req.param("id"), in,
                                                   req.param("partNumber")));
                   return HttpResponse::json(200, approval_json(a));
               });

    router.add("GET", "/api/approvals", Access::viewer, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto paging, parse_paging(req));
                   ApprovalQuery q;
                   q.limit = paging.limit;
                   q.offset = paging.offset;
                   q.state = req.query_param("state");
                   q.resource_type = req.query_param("resource_type");
                   if (q.state.size() > 64) return bad_request("state must be at most 64 bytes");
                   if (q.resource_type.size() > 64)
                       return bad_request("resource_type must be at most 64 bytes");
                   if (req.has_query("signer")) {
                       if (req.query_param("signer") != "me")
                           return bad_request("signer must be 'me' (the caller's inbox)");
                       q.inbox = true;
                   }
                   SILO_TRY(auto page, approvals.list(req.principal, q));
                   return list_response(page_json(page), page.total);
               });

    router.add("GET", "/api/approvals/{id}", Access::viewer, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto a, approvals.get(req.param("id")));
                   return HttpResponse::json(200, approval_json(a));
               });

    router.add("POST", "/api/approvals/{id}/submit", Access::editor, BodyKind::none,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto a, approvals.submit(req.principal, req.param("id")));
                   return HttpResponse::json(200, approval_json(a));
               });

    router.add("POST", "/api/approvals/{id}/cancel", Access::editor, BodyKind::json,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto body, parse_object(req));
                   SILO_TRY(auto reason, opt_string(body, "reason", 4000));
                   SILO_TRY(auto a, approvals.withdraw(req.principal, req.param("id"), reason.value_or("")));
                   return HttpResponse::json(200, approval_json(a));
               });

    router.add("POST", "/api/approvals/{id}/sign", Access::editor, BodyKind::json,
               [&approvals](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto in, parse_sign(req));
                   SILO_TRY(auto a, approvals.sign(req.principal, req.param("id"), in));
                   return HttpResponse::json(200, approval_json(a));
               });
}

}  // namespace silo::api
