#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/json_null.hpp"
#include "core/strings.hpp"

#include <algorithm>

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

void add_audit_routes(http::Router& router, AuditService& audit) {
    router.add("GET", "/api/audit", Access::admin, BodyKind::none, [&audit](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto paging, parse_paging(req));
        AuditFilter f;
        f.limit = paging.limit;
        f.offset = paging.offset;
        f.action = req.query_param("action");
        f.resource_type = req.query_param("resource_type");
        f.resource_id = req.query_param("resource_id");
        f.actor = req.query_param("actor");
        if (req.has_query("since")) {
            auto t = parse_rfc3339(req.query_param("since"));
            if (!t) return bad_request("since must be an RFC 3339 timestamp such as 2026-03-01T15:39:21Z");
            f.since = *t;
        }
        SILO_TRY(auto page, audit.list(f));
        json arr = json::array();
        for (const auto& e : page.entries) {
            json details = json::parse(e.details, nullptr, false);
            arr.push_back({{"id", e.id},
                           {"at", format_rfc3339(e.at)},
                           {"actor", e.actor},
                           {"action", e.action},
                           {"resource_type", e.resource_type},
                           {"resource_id", e.resource_id},
                           {"details", details.is_discarded() ? json(e.details) : details}});
        }
        return list_response(arr, page.total);
    });

    router.add("GET", "/api/audit/verify", Access::admin, BodyKind::none, [&audit](HttpRequest& req) -> Result<HttpResponse> {
        // ?anchor_id=&anchor_hash=: a head remembered from an earlier answer (both or neither).
        std::optional<AuditAnchor> anchor;
        if (req.has_query("anchor_id") || req.has_query("anchor_hash")) {
            auto id = parse_int(req.query_param("anchor_id"));
            const auto& hash = req.query_param("anchor_hash");
            bool hex = hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
                           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       });
            if (!id || *id < 1 || !hex)
                return bad_request("anchor_id (a row id) and anchor_hash (64 lower-case hex) go together");
            anchor = AuditAnchor{*id, hash};
        }
        SILO_TRY(auto v, audit.verify(anchor));
        return HttpResponse::json(200, {{"ok", v.ok},
                                        {"checked", v.checked},
                                        {"first_bad_id", value_or_null(v.first_bad_id)},
                                        {"head_id", v.head_id},
                                        {"head_hash", v.head_hash}});
    });
}

}  // namespace silo::api
