#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

json item_json(const ItemRecord& r) {
    return {{"id", r.id},
            {"part_number", r.part_number},
            {"item_type", r.item_type},
            {"description", r.description},
            {"revision", r.revision},
            {"created_at", format_rfc3339(r.created_at)},
            {"created_by", r.created_by},
            {"updated_at", format_rfc3339(r.updated_at)}};
}

void add_item_routes(http::Router& router, ItemService& items) {
    router.add("GET", "/api/items", Access::viewer, BodyKind::none, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto paging, parse_paging(req));
        const auto& q = req.query_param("q");
        if (q.size() > 256) return bad_request("q must be at most 256 bytes");
        SILO_TRY(auto page, items.list(q, paging.limit, paging.offset));
        json arr = json::array();
        for (const auto& r : page.items) arr.push_back(item_json(r));
        return list_response(arr, page.total);
    });

    router.add("POST", "/api/items", Access::editor, BodyKind::json, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        CreateItemInput in;
        SILO_TRY(in.part_number, opt_string(body, "part_number", 256));
        SILO_TRY(in.schema, opt_string(body, "schema", 256));
        SILO_TRY(in.category, opt_string(body, "category", 256));
        SILO_TRY(auto type, opt_string(body, "item_type", 64));
        SILO_TRY(auto desc, opt_string(body, "description", 1 << 20));
        if (type) in.item_type = *type;
        if (desc) in.description = *desc;
        SILO_TRY(auto rec, items.create(req.principal, in));
        return HttpResponse::json(201, item_json(rec));
    });

    router.add("GET", "/api/items/by-uuid/{uuid}", Access::viewer, BodyKind::none, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto rec, items.get_by_id(req.param("uuid")));
        return HttpResponse::json(200, item_json(rec));
    });

    router.add("GET", "/api/items/{partNumber}", Access::viewer, BodyKind::none, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto rec, items.get(req.param("partNumber")));
        return HttpResponse::json(200, item_json(rec));
    });

    router.add("PUT", "/api/items/{partNumber}", Access::editor, BodyKind::json, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        UpdateItemInput in;
        SILO_TRY(in.description, opt_string(body, "description", 1 << 20));
        SILO_TRY(in.item_type, opt_string(body, "item_type", 64));
        SILO_TRY(auto rec, items.update(req.principal, req.param("partNumber"), in));
        return HttpResponse::json(200, item_json(rec));
    });

    router.add("DELETE", "/api/items/{partNumber}", Access::editor, BodyKind::none, [&items](HttpRequest& req) -> Result<HttpResponse> {
        SILO_CHECK(items.archive(req.principal, req.param("partNumber")));
        return HttpResponse::no_content();
    });
}

}  // namespace silo::api
