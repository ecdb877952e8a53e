#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "storage/blob_store.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

void add_system_routes(http::Router& router, const SystemContext& ctx) {
    router.add("GET", "/health", Access::public_, BodyKind::none, [](HttpRequest&) -> Result<HttpResponse> {
        return HttpResponse::json(200, {{"status", "ok"}, {"version", SILO_VERSION}});
    });

    router.add("GET", "/ready", Access::public_, BodyKind::none, [ctx](HttpRequest&) -> Result<HttpResponse> {
        auto st = ctx.db->transact(sql::TxMode::read, [](sql::Tx& tx) -> Status {
            tx.query("SELECT 1");
            return {};
        });
        auto files = ctx.storage_root.empty() ? Status{} : probe_writable(ctx.storage_root);
        bool ready = st.ok() && files.ok();
        json body = {{"status", ready ? "ready" : "not_ready"},
                     {"database", st.ok() ? "ok" : "unavailable"},
                     {"storage", files.ok() ? "ok" : "unwritable"},
                     {"event_streams", ctx.server ? ctx.server->open_streams() : 0}};
        if (!files.ok()) body["storage_error"] = files.error().message;
        return HttpResponse::json(ready ? 200 : 503, body);
    });

    router.add("GET", "/api/modules", Access::public_, BodyKind::none, [ctx](HttpRequest&) -> Result<HttpResponse> {
        const Config& c = *ctx.config;
        const auto& s = c.sessions;
        json body = {
            {"items", {{"enabled", true}}},
            {"auth", {{"enabled", c.auth.enabled}}},
            {"events",
             {{"enabled", true},
              {"heartbeat_seconds", c.events.heartbeat_seconds},
              {"retention_hours", c.events.retention_hours}}},
            {"approvals", {{"enabled", true}, {"allow_self_approval", c.approvals.allow_self_approval}}},
            {"sessions",
             {{"enabled", s.enabled},
              {"session_timeout_minutes", s.session_timeout_minutes},
              {"disconnect_grace_seconds", s.disconnect_grace_seconds},
              {"sweep_interval_seconds", s.sweep_interval_seconds},
              {"force_release_requires_approval", s.force_release_requires_approval},
              {"force_release_workflow", s.force_release_workflow},
              {"checkpoint_ttl_hours", s.checkpoint_ttl_hours},
              {"checkpoint_max_per_item", s.checkpoint_max_per_item}}},
            {"server", {{"read_only", c.server.read_only}, {"version", SILO_VERSION}}},
        };
        return HttpResponse::json(200, body);
    });
}

}  // namespace silo::api
