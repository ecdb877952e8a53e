#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "storage/blob_store.hpp"

#include <chrono>
#include <memory>
#include <mutex>

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

namespace {

// The file store's writability for /ready, probed at most every 2 seconds (a probe creates,
// syncs and removes a file): a public route polled by load balancers must not cost an fsync
// per call. Thread-safe.
class StorageProbe {
public:
    explicit StorageProbe(std::string root) : root_(std::move(root)) {}
    Status check() {
        if (root_.empty()) return {};
        std::lock_guard lock(mu_);
        auto now = std::chrono::steady_clock::now();
        if (!checked_ || now - at_ > std::chrono::seconds(2)) {
            last_ = probe_writable(root_);
            at_ = now;
            checked_ = true;
        }
        return last_;
    }

private:
    std::string root_;
    std::mutex mu_;
    bool checked_ = false;
    std::chrono::steady_clock::time_point at_;
    Status last_;
};

}  // namespace

void add_system_routes(http::Router& router, const SystemContext& ctx) {
    auto storage = std::make_shared<StorageProbe>(ctx.storage_root);
    router.add("GET", "/health", Access::public_, BodyKind::none, [](HttpRequest&) -> Result<HttpResponse> {
        return HttpResponse::json(200, {{"status", "ok"}, {"version", SILO_VERSION}});
    });

    router.add("GET", "/ready", Access::public_, BodyKind::none, [ctx, storage](HttpRequest&) -> Result<HttpResponse> {
        auto st = ctx.db->transact(sql::TxMode::read, [](sql::Tx& tx) -> Status {
            tx.query("SELECT 1");
            return {};
        });
        auto files = storage->check();
        bool ready = st.ok() && files.ok();
        json body = {{"status", ready ? "ready" : "not_ready"},
                     {"database", st.ok() ? "ok" : "unavailable"},
                     {"storage", files.ok() ? "ok" : "unwritable"},
                     {"event_streams", ctx.server ? ctx.server->open_streams() : 0}};
        if (!files.ok()) body["storage_error"] = files.error().message;
        if (!ready) {
            // A 503 is an error answer: it carries the envelope too (API.md §0).
            body["error"] = errc_name(Errc::unavailable);
            body["message"] = !st.ok() ? "not ready: the database is unreachable"
                                       : "not ready: the file store cannot take files";
        }
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
