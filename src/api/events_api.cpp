#include "api/json_io.hpp"
#include "api/routes.hpp"
#include "core/clock.hpp"
#include "core/json_null.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"

namespace silo::api {

using http::Access;
using http::BodyKind;
using http::HttpRequest;
using http::HttpResponse;

namespace {

constexpr std::size_t kMaxWatch = 500;

json workstation_json(const WorkstationRecord& w) {
    return {{"id", w.id},
            {"name", w.name},
            {"fingerprint", w.fingerprint},
            {"last_seen", time_or_null(w.last_seen)},
            {"created_at", format_rfc3339(w.created_at)}};
}

}  // namespace

void add_workstation_routes(http::Router& router, WorkstationService& workstations) {
    router.add("POST", "/api/workstations", Access::viewer, BodyKind::json, [&workstations](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto body, parse_object(req));
        SILO_TRY(auto name, req_string(body, "name", 256));
        SILO_TRY(auto fingerprint, req_string(body, "fingerprint", 256));
        SILO_TRY(auto reg, workstations.register_workstation(req.principal, name, fingerprint));
        return HttpResponse::json(reg.created ? 201 : 200, workstation_json(reg.workstation));
    });

    router.add("GET", "/api/workstations", Access::viewer, BodyKind::none, [&workstations](HttpRequest& req) -> Result<HttpResponse> {
        SILO_TRY(auto paging, parse_paging(req));
        SILO_TRY(auto list, workstations.list(req.principal));
        json arr = json::array();
        for (const auto& w : list) arr.push_back(workstation_json(w));
        return paged_response(arr, paging);
    });

    router.add("DELETE", "/api/workstations/{id}", Access::viewer, BodyKind::none, [&workstations](HttpRequest& req) -> Result<HttpResponse> {
        SILO_CHECK(workstations.remove(req.principal, req.param("id")));
        return HttpResponse::no_content();
    });
}

void add_event_routes(http::Router& router, const EventsContext& ctx) {
    router.add("GET", "/api/events", Access::viewer, BodyKind::none, [ctx](HttpRequest& req) -> Result<HttpResponse> {
        Subscription sub;
        sub.user_id = req.principal.user_id;
        // Last-Event-ID (EventSource reconnects) or ?last_event_id= (first connection of a browser).
        std::string last = req.header("last-event-id");
        if (last.empty()) last = req.query_param("last_event_id");
        if (!last.empty()) {
            auto n = parse_int(trim(last));
            if (!n) return bad_request("Last-Event-ID must be a non-negative whole number");
            sub.last_event_id = *n;
        }
        if (const auto& watch = req.query_param("watch"); !watch.empty()) {
            std::vector<std::string> pns;
            for (auto part : split(watch, ',')) {
                auto pn = trim(part);
                if (pn.empty()) continue;
                if (!valid_part_number(pn)) return bad_request("watch: '" + std::string(pn) + "' is not a part number");
                pns.emplace_back(pn);
            }
            if (pns.size() > kMaxWatch)
                return bad_request("watch takes at most " + std::to_string(kMaxWatch) + " part numbers");
            SILO_TRY(auto ids, ctx.items->ids_of(pns));
            sub.watch_items.insert(ids.begin(), ids.end());
        }
        if (req.has_query("workstation_id")) {
            SILO_TRY(auto ws, ctx.workstations->owned(req.principal, req.query_param("workstation_id")));
            sub.workstation_id = ws.id;
            if (ctx.held_sessions) sub.held_sessions = ctx.held_sessions(ws.id);
        }
        if (ctx.max_streams_per_user > 0 &&
            ctx.hub->streams_of_user(sub.user_id) >= static_cast<std::size_t>(ctx.max_streams_per_user))
            return Error(Errc::too_many_requests, "too many open event streams for this user (events.max_streams_per_user)");
        HttpResponse resp;
        auto* hub = ctx.hub;
        resp.on_stream = [hub, sub = std::move(sub)](std::shared_ptr<StreamSink> sink) mutable {
            hub->attach(std::move(sink), std::move(sub));
        };
        return resp;
    });
}

}  // namespace silo::api
