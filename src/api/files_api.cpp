// Revisions (API.md §2) and checkpoints (§6): multipart uploads and file downloads.
#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"
#include "http/multipart.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

namespace {

// The request's multipart form; the `file` part lands next to the streamed body (same
// filesystem as the store). 400 when the file part is missing.
Result<http::MultipartForm> upload_form(const HttpRequest& req) {
    if (req.body_file.empty()) return bad_request("the request body is empty: send multipart/form-data with a 'file' part");
    SILO_TRY(auto form, http::parse_multipart(req.header("content-type"), req.body_file, "file", req.body_file + ".file"));
    if (form.file.empty()) return bad_request("the multipart field 'file' is missing");
    SILO_CHECK(require_bytes(form.file_size, "the multipart field 'file'"));
    return form;
}

const std::string& field(const http::MultipartForm& form, const std::string& name) {
    static const std::string none;
    auto it = form.fields.find(name);
    return it == form.fields.end() ? none : it->second;
}

HttpResponse download(const std::string& path, const std::string& sha256, const std::string& filename) {
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.file_path = path;
    r.with_header("ETag", "\"" + sha256 + "\"");
    r.with_header("Content-Disposition", "attachment; filename=\"" + filename + "\"");
    return r;
}

json checkpoint_list(const std::vector<CheckpointRecord>& list) {
    json arr = json::array();
    for (const auto& c : list) arr.push_back(checkpoint_json(c));
    return arr;
}

// ?user= : a username or nothing.
Result<std::string> user_filter(const HttpRequest& req) {
    const auto& u = req.query_param("user");
    if (!u.empty() && !valid_part_number(u)) return bad_request("user must be a username");
    return u;
}

}  // namespace

void add_revision_routes(http::Router& router, RevisionService& revisions) {
    router.add("POST", "/api/items/{partNumber}/file", Access::editor, BodyKind::upload,
               [&revisions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto form, upload_form(req));
                   SILO_TRY(auto rev, revisions.upload(req.principal, req.param("partNumber"), form.file.path(),
                                                       field(form, "comment")));
                   form.file.release();
                   return HttpResponse::json(201, revision_json(rev));
               });

    router.add("GET", "/api/items/{partNumber}/revisions", Access::viewer, BodyKind::none,
               [&revisions](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto paging, parse_paging(req));
                   SILO_TRY(auto page, revisions.list(req.param("partNumber"), paging.limit, paging.offset));
                   json arr = json::array();
                   for (const auto& r : page.revisions) arr.push_back(revision_json(r));
                   return list_response(arr, page.total);
               });

    router.add("GET", "/api/items/{partNumber}/file/{rev}", Access::viewer, BodyKind::none,
               [&revisions](HttpRequest& req) -> Result<HttpResponse> {
                   auto number = parse_int(req.param("rev"));
                   if (!number || *number < 1) return bad_request("the revision must be a whole number of at least 1");
                   SILO_TRY(auto rev, revisions.get(req.param("partNumber"), *number));
                   return download(revisions.file_path(rev), rev.file_hash,
                                   req.param("partNumber") + "-rev" + std::to_string(rev.revision_number));
               });
}

void add_checkpoint_routes(http::Router& router, CheckpointService& checkpoints) {
    router.add("POST", "/api/items/{partNumber}/checkpoints", Access::editor, BodyKind::upload,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto form, upload_form(req));
                   CheckpointInput in;
                   in.context = field(form, "context");
                   if (in.context.empty()) return bad_request("the multipart field 'context' is missing");
                   auto base = parse_int(field(form, "base_revision"));
                   if (!base || *base < 0) return bad_request("base_revision must be a whole number of at least 0");
                   in.base_revision = *base;
                   in.session_id = std::string(trim(field(form, "session_id")));
                   SILO_TRY(auto c, checkpoints.create(req.principal, req.param("partNumber"), in, form.file.path()));
                   form.file.release();
                   return HttpResponse::json(201, checkpoint_json(c));
               });

    router.add("GET", "/api/items/{partNumber}/checkpoints", Access::viewer, BodyKind::none,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto paging, parse_paging(req));
                   SILO_TRY(auto user, user_filter(req));
                   SILO_TRY(auto page, checkpoints.list(req.param("partNumber"), user, paging.limit, paging.offset));
                   return list_response(checkpoint_list(page.checkpoints), page.total);
               });

    router.add("GET", "/api/items/{partNumber}/checkpoints/latest", Access::viewer, BodyKind::none,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto user, user_filter(req));
                   SILO_TRY(auto c, checkpoints.latest(req.param("partNumber"), user));
                   return HttpResponse::json(200, checkpoint_json(c));
               });

    router.add("GET", "/api/items/{partNumber}/checkpoints/{id}", Access::viewer, BodyKind::none,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto c, checkpoints.get(req.param("partNumber"), req.param("id")));
                   return HttpResponse::json(200, checkpoint_json(c));
               });

    router.add("GET", "/api/items/{partNumber}/checkpoints/{id}/file", Access::viewer, BodyKind::none,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_TRY(auto c, checkpoints.get(req.param("partNumber"), req.param("id")));
                   return download(checkpoints.file_path(c), c.file_hash, c.part_number + "-checkpoint-" + c.id);
               });

    router.add("DELETE", "/api/items/{partNumber}/checkpoints/{id}", Access::editor, BodyKind::none,
               [&checkpoints](HttpRequest& req) -> Result<HttpResponse> {
                   SILO_CHECK(checkpoints.remove(req.principal, req.param("partNumber"), req.param("id")));
                   return HttpResponse::no_content();
               });
}

}  // namespace silo::api
