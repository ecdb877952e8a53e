#include "service/handoff_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json_null.hpp"
#include "core/log.hpp"
#include "core/strings.hpp"
#include "storage/audit_repository.hpp"
#include "storage/user_repository.hpp"
#include "storage/checkpoint_repository.hpp"
#include "storage/item_repository.hpp"
#include "storage/session_repository.hpp"

namespace silo {

namespace {

constexpr std::size_t kMaxMessage = 2000;
constexpr const char* kResourceType = "edit_session";

Error session_not_found(const std::string& id) { return not_found("no active edit session " + id + " on this item"); }

bool valid_status(const std::string& s) {
    return s == "pending" || s == "declined" || s == "fulfilled" || s == "superseded";
}

}  // namespace

nlohmann::json handoff_json(const HandoffRecord& h) {
    return {{"id", h.id},
            {"session_id", h.session_id},
            {"item_id", h.item_id},
            {"part_number", h.part_number},
            {"requester", h.requester},
            {"holder", h.holder},
            {"message", h.message},
            {"status", h.status},
            {"response", h.response},
            {"created_at", format_rfc3339(h.created_at)},
            {"resolved_at", time_or_null_if_zero(h.resolved_at)}};
}

HandoffService::HandoffService(sql::Database& db, EventNotifier& events, SessionService& sessions,
                               ApprovalService& approvals, SessionsModuleConfig cfg)
    : db_(db), events_(events), sessions_(sessions), approvals_(approvals), cfg_(std::move(cfg)) {}

void HandoffService::install_hooks() {
    // Whatever ends a session settles its handoff requests and cancels a pending
    // force-release approval (the approval's own completion took its request row first).
    sessions_.on_end.push_back([this](sql::Tx& tx, const SessionRecord& s, const std::string& reason) {
        bool by_holder = reason == kReleased || reason == kCheckpoint;
        HandoffRepository::resolve_session(tx, s.id, by_holder ? "fulfilled" : "superseded", now_millis());
        // The approval first, then the request row: the order a signature takes them in.
        if (auto pending = ForceReleaseRepository::find(tx, s.id); pending && !pending->approval_id.empty()) {
            auto st = approvals_.cancel(tx, pending->approval_id, "system");
            if (!st.ok() && st.error().code != Errc::conflict)  // conflict: it completed meanwhile
                log::warn("cancelling a force-release approval failed", {{"approval_id", pending->approval_id}});
            ForceReleaseRepository::take(tx, s.id);
        }
    });
    approvals_.on_complete(kResourceType, [this](sql::Tx& tx, const ApprovalRecord& a, const std::string& final_state) -> Status {
        auto pending = ForceReleaseRepository::find(tx, a.resource_id);
        if (!pending || pending->approval_id != a.id) return {};
        ForceReleaseRepository::take(tx, a.resource_id);
        auto s = SessionRepository::find(tx, a.resource_id);
        if (!s) return {};
        if (final_state == kStateCancelled) {  // withdrawn by its admin or another: tell the holder
            AuditRepository::append(tx, {a.updated_by, "edit.force_release_cancelled", kResourceType, s->id,
                                         {{"approval_id", a.id}, {"admin", pending->admin},
                                          {"part_number", s->part_number}, {"holder", s->username}}},
                                    a.updated_at);
            emit(tx, "edit.force_release_cancelled", Audience::workstation, s->workstation_id,
                 {{"item_id", s->item_id}, {"part_number", s->part_number}, {"session_id", s->id},
                  {"approval_id", a.id}, {"cancelled_by", a.updated_by}});
            return {};
        }
        if (final_state != "approved") return {};  // rejected: the session stays held
        // The work file stays where it is: the session row that named it is gone, and the
        // checkpoint holds its own link; the work-file sweep removes the original.
        std::optional<std::string> work;
        auto r = force_release_in(tx, *s, pending->admin, pending->reason, a.id, work);
        if (!r.ok()) return r.error();
        return {};
    });
}

Result<HandoffOutcome> HandoffService::request(const Principal& p, const std::string& part_number,
                                               const std::string& session_id, const std::string& message) {
    if (utf8_length(message) > kMaxMessage) return bad_request("message must be at most 2000 characters");
    SILO_TRY(auto s, sessions_.get(part_number, session_id));
    if (s.user_id == p.user_id) return conflict("you hold this session yourself");
    auto r = transact_as<HandoffRecord>(db_, p, [&](sql::Tx& tx) -> Result<HandoffRecord> {
        auto cur = SessionRepository::find(tx, s.id);
        if (!cur) return session_not_found(session_id);
        HandoffRecord h;
        h.id = new_uuid();
        h.session_id = s.id;
        h.item_id = s.item_id;
        h.part_number = s.part_number;
        h.requester_id = p.user_id;
        h.requester = p.username;
        h.holder_id = s.user_id;
        h.holder = s.username;
        h.holder_workstation_id = s.workstation_id;
        h.message = message;
        h.status = "pending";
        h.created_at = now_millis();
        if (!HandoffRepository::insert(tx, h)) {
            auto mine = HandoffRepository::find_pending(tx, s.id, p.user_id);
            return Error(Errc::conflict, "you already asked for this session; that request is still pending",
                         mine ? nlohmann::json{{"handoff", handoff_json(*mine)}} : nlohmann::json::object());
        }
        AuditRepository::append(tx, {p.username, "edit.handoff_requested", "edit_session", s.id,
                                     {{"handoff_id", h.id}, {"part_number", s.part_number}, {"requester", p.username},
                                      {"holder", s.username}, {"message", message}}},
                                h.created_at);
        emit(tx, "edit.handoff_requested", Audience::workstation, s.workstation_id,
             {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", s.id}, {"handoff_id", h.id},
              {"requester", p.username}, {"message", message}});
        return h;
    });
    if (!r.ok()) return r.error();
    events_.committed();
    HandoffOutcome out;
    out.request = std::move(*r);
    out.delivered = connected && connected(s.workstation_id);
    return out;
}

Result<HandoffRecord> HandoffService::decline(const Principal& p, const std::string& id, const std::string& message) {
    if (utf8_length(message) > kMaxMessage) return bad_request("message must be at most 2000 characters");
    if (!is_uuid(id)) return not_found("no handoff request " + id);
    auto r = transact_as<HandoffRecord>(db_, p, [&](sql::Tx& tx) -> Result<HandoffRecord> {
        auto h = HandoffRepository::find(tx, to_lower_uuid(id));
        if (!h) return not_found("no handoff request " + id);
        if (h->holder_id != p.user_id) return forbidden("only the holder may decline a handoff request");
        Millis now = now_millis();
        if (!HandoffRepository::resolve(tx, h->id, "declined", message, now))
            return conflict("the handoff request is no longer pending");
        h->status = "declined";
        h->response = message;
        h->resolved_at = now;
        AuditRepository::append(tx, {p.username, "edit.handoff_declined", "edit_session", h->session_id,
                                     {{"handoff_id", h->id}, {"part_number", h->part_number},
                                      {"requester", h->requester}, {"holder", h->holder}, {"message", message}}},
                                now);
        emit(tx, "edit.handoff_declined", Audience::user, h->requester_id,
             {{"item_id", h->item_id}, {"part_number", h->part_number}, {"handoff_id", h->id},
              {"session_id", h->session_id}, {"holder", h->holder}, {"message", message}});
        return std::move(*h);
    });
    if (r.ok()) events_.committed();
    return r;
}

Result<HandoffPage> HandoffService::list(const Principal& p, const std::string& session_id, const std::string& status,
                                         std::int64_t limit, std::int64_t offset) {
    if (!status.empty() && !valid_status(status))
        return bad_request("status must be one of pending, declined, fulfilled, superseded");
    if (!session_id.empty() && !is_uuid(session_id)) return bad_request("session_id must be a UUID");
    HandoffFilter f{session_id.empty() ? "" : to_lower_uuid(session_id), status,
                    p.role == Role::admin ? std::string() : p.user_id};
    return db_.transact<HandoffPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<HandoffPage> {
        return HandoffRepository::list(tx, f, limit, offset);
    });
}

Result<std::vector<Designation>> HandoffService::designations(const std::vector<std::string>& approvers) const {
    std::vector<Designation> out;
    if (approvers.empty()) return out;
    const auto* wf = approvals_.workflow(cfg_.force_release_workflow);
    if (!wf) return conflict("the force-release workflow '" + cfg_.force_release_workflow + "' is not loaded");
    for (const auto& g : wf->gates)
        if (g.required)
            for (const auto& u : approvers) out.push_back({u, g.role});
    return out;
}

Result<std::optional<std::string>> HandoffService::force_release_in(sql::Tx& tx, const SessionRecord& s,
                                                                    const std::string& admin, const std::string& reason,
                                                                    const std::optional<std::string>& approval_id,
                                                                    std::optional<std::string>& work_path) {
    nlohmann::json details = {{"admin", admin}, {"reason", reason}, {"holder", s.username},
                              {"approval_id", value_or_null(approval_id)}};
    // Keeps the holder's uploaded work as a pinned force_release checkpoint (SessionService's
    // keep_work, the rule for every ending the holder did not choose).
    auto ended = sessions_.release_in(tx, s, kForceReleased, admin, details);
    if (!ended) return session_not_found(s.id);
    work_path = ended->work_path;
    std::optional<std::string> checkpoint_id = ended->kept_checkpoint_id;
    if (!checkpoint_id)
        if (auto c = CheckpointRepository::newest_since(tx, s.item_id, s.user_id, s.acquired_at)) checkpoint_id = c->id;
    details["checkpoint_id"] = value_or_null(checkpoint_id);
    details["part_number"] = s.part_number;
    details["session_id"] = s.id;
    AuditRepository::append(tx, {admin, "edit.force_released", kResourceType, s.id, details}, now_millis());
    emit(tx, "edit.force_released", Audience::workstation, s.workstation_id,
         {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", s.id}, {"admin", admin},
          {"reason", reason}, {"original_holder", s.username}, {"checkpoint_id", value_or_null(checkpoint_id)},
          {"approval_id", value_or_null(approval_id)}});
    return checkpoint_id;
}

Result<ForceReleaseOutcome> HandoffService::force_release(const Principal& admin, const std::string& part_number,
                                                          const std::string& session_id, const std::string& reason,
                                                          const std::vector<std::string>& approvers) {
    if (blank(reason)) return bad_request("a reason is required to force-release a session");
    if (utf8_length(reason) > kMaxMessage) return bad_request("reason must be at most 2000 characters");
    SILO_TRY(auto signers, designations(approvers));
    SILO_TRY(auto s, sessions_.get(part_number, session_id));
    ForceReleaseOutcome out;
    out.session_id = s.id;

    if (!cfg_.force_release_requires_approval) {
        std::optional<std::string> work;
        auto r = transact_as<std::optional<std::string>>(
            db_, admin, [&](sql::Tx& tx) -> Result<std::optional<std::string>> {
                auto cur = SessionRepository::find(tx, s.id);
                if (!cur) return session_not_found(session_id);
                return force_release_in(tx, *cur, admin.username, reason, std::nullopt, work);
            });
        if (!r.ok()) return r.error();
        events_.committed();
        if (work) SessionService::remove_file(*work);
        out.checkpoint_id = *r;
        return out;
    }

    auto r = transact_as<ForceReleaseOutcome>(db_, admin, [&](sql::Tx& tx) -> Result<ForceReleaseOutcome> {
        auto cur = SessionRepository::find(tx, s.id);
        if (!cur) return session_not_found(session_id);
        ForceReleaseOutcome o;
        o.session_id = s.id;
        Millis now = now_millis();
        if (!ForceReleaseRepository::insert(tx, {s.id, "", admin.username, reason, now})) {
            auto pending = ForceReleaseRepository::find(tx, s.id);
            if (!pending) return conflict("a force-release of this session is already being decided");
            SILO_TRY(auto a, approvals_.get_in(tx, pending->approval_id));
            o.kind = ForceReleaseOutcome::Kind::already_pending;
            o.approval = std::move(a);
            return o;
        }
        CreateApprovalInput in;
        in.workflow = cfg_.force_release_workflow;
        in.signers = signers;
        in.resource_type = kResourceType;
        in.resource_id = s.id;
        SILO_TRY(auto a, approvals_.create_in(tx, admin, s.item_id, in));
        ForceReleaseRepository::set_approval(tx, s.id, a.id);
        AuditRepository::append(tx, {admin.username, "edit.force_release_requested", kResourceType, s.id,
                                     {{"admin", admin.username}, {"reason", reason}, {"holder", s.username},
                                      {"approval_id", a.id}, {"part_number", s.part_number}}},
                                now);
        emit(tx, "edit.force_release_pending", Audience::workstation, s.workstation_id,
             {{"item_id", s.item_id}, {"part_number", s.part_number}, {"session_id", s.id}, {"admin", admin.username},
              {"reason", reason}, {"approval_id", a.id}});
        o.kind = ForceReleaseOutcome::Kind::pending_approval;
        o.approval = std::move(a);
        return o;
    });
    if (!r.ok()) return r.error();
    if (r->kind == ForceReleaseOutcome::Kind::pending_approval) events_.committed();
    return r;
}

}  // namespace silo
