#include "service/approval_service.hpp"

#include <algorithm>
#include <set>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/strings.hpp"
#include "domain/part_number.hpp"
#include "storage/audit_repository.hpp"
#include "service/item_service.hpp"
#include "storage/item_repository.hpp"
#include "storage/user_repository.hpp"

namespace silo {

namespace {

constexpr std::size_t kMaxComment = 4000;
constexpr std::size_t kMaxEcoNumber = 128;
constexpr std::size_t kMaxResourceType = 64;
constexpr std::size_t kMaxResourceId = 256;
constexpr std::size_t kMaxSigners = 100;

Error approval_not_found(const std::string& id) {
    return not_found("approval '" + id + "' not found");
}

// resource_type: 1-64 of a-z 0-9 _ . -
bool valid_resource_type(const std::string& s) {
    if (s.empty() || s.size() > kMaxResourceType) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    });
}

// The payload shared by every approval event and audit row.
nlohmann::json payload(const ApprovalRecord& a) {
    return {{"approval_id", a.id},
            {"workflow", a.workflow},
            {"resource_type", a.resource_type},
            {"resource_id", a.resource_id},
            {"state", a.state},
            {"item_id", a.item_id},
            {"part_number", a.part_number}};
}

// The audit row and the event (to everyone) of one approval change.
void record(sql::Tx& tx, const std::string& actor, const char* action, const ApprovalRecord& a,
            const nlohmann::json& event_extra, const nlohmann::json& audit_extra, Millis at) {
    // Audit first, then the event: every service takes the two append locks in this order.
    auto event = payload(a);
    event.update(event_extra);
    auto details = event;
    details.update(audit_extra);
    AuditRepository::append(tx, {actor, action, "approval", a.id, details}, at);
    emit(tx, action, Audience::everyone, "", event);
}

std::optional<std::string> canonical_id(const std::string& id) {
    if (!is_uuid(id)) return std::nullopt;
    return to_lower_uuid(id);
}

}  // namespace

ApprovalState approval_state(const ApprovalRecord& a) {
    ApprovalState s;
    s.state = a.state;
    for (const auto& sig : a.signatures)
        s.signatures.push_back({sig.username, sig.role, sig.status});
    return s;
}

std::vector<Designation> approval_designations(const ApprovalRecord& a) {
    std::vector<Designation> out;
    for (const auto& d : a.signers) out.push_back({d.username, d.role});
    return out;
}

const Workflow* ApprovalService::workflow(const std::string& name) const {
    auto it = workflows_.find(name);
    return it == workflows_.end() ? nullptr : &it->second;
}

void ApprovalService::on_complete(const std::string& resource_type, CompletionHook hook) {
    std::lock_guard lock(hooks_mu_);
    hooks_[resource_type] = std::move(hook);
}

std::optional<ApprovalService::CompletionHook> ApprovalService::hook_for(
    const std::string& resource_type) const {
    std::lock_guard lock(hooks_mu_);
    auto it = hooks_.find(resource_type);
    if (it == hooks_.end()) return std::nullopt;
    return it->second;
}

Result<SignerInfo> ApprovalService::signer_info(sql::Tx& tx, const Principal& p) const {
    // auth.enabled: false: the synthetic development admin has no user record.
    if (p.synthetic) return SignerInfo{p.username, Role::admin, true};
    auto u = UserRepository::find_by_id(tx, p.user_id);
    if (!u) return forbidden("the caller has no user record");
    return SignerInfo{u->username, u->role, u->active};
}

// ---------------------------------------------------------------------------------------------
// Create

Result<ApprovalRecord> ApprovalService::create(const Principal& actor,
                                               const std::string& part_number,
                                               const CreateApprovalInput& in) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    auto created = transact_as<ApprovalRecord>(
        db_, actor, [&](sql::Tx& tx) -> Result<ApprovalRecord> {
            auto item = ItemRepository::find_by_part_number(tx, part_number);
            if (!item) return item_not_found(part_number);
            return create_checked(tx, actor, item->id, in, false);
        });
    if (created.ok()) events_.committed();
    return created;
}

Result<ApprovalRecord> ApprovalService::create_in(sql::Tx& tx, const Principal& actor,
                                                  const std::string& item_id,
                                                  const CreateApprovalInput& in) {
    return create_checked(tx, actor, item_id, in, true);
}

Result<ApprovalRecord> ApprovalService::create_checked(sql::Tx& tx, const Principal& actor,
                                                       const std::string& item_id,
                                                       const CreateApprovalInput& in,
                                                       bool managed_ok) {
    auto item = ItemRepository::find_by_id(tx, item_id);
    if (!item) return not_found("no item with id " + item_id);

    const Workflow* wf = workflow(in.workflow);
    if (!wf) {
        std::string names;
        for (const auto& [name, w] : workflows_) names += (names.empty() ? "" : ", ") + name;
        return bad_request("unknown workflow '" + in.workflow +
                           "' (loaded: " + (names.empty() ? "none" : names) + ")");
    }

    ApprovalRecord a;
    if (in.eco_number && in.eco_number->size() > kMaxEcoNumber)
        return bad_request("eco_number must be at most " + std::to_string(kMaxEcoNumber) +
                           " bytes");
    if (in.eco_number && !blank(*in.eco_number)) a.eco_number = in.eco_number;

    if (!valid_resource_type(in.resource_type))
        return bad_request("resource_type must be 1-64 characters of a-z 0-9 _ . -");
    if (!managed_ok && hook_for(in.resource_type))
        return bad_request("resource_type '" + in.resource_type +
                           "' is managed by the server: its approvals are created by its own "
                           "routes");
    a.resource_type = in.resource_type;
    if (in.resource_id.size() > kMaxResourceId)
        return bad_request("resource_id must be at most " + std::to_string(kMaxResourceId) +
                           " bytes");
    if (in.resource_type == "item") {
        if (!in.resource_id.empty() && to_lower(in.resource_id) != item->id)
            return bad_request("resource_id of an item approval must be the item's id (" +
                               item->id + ") or absent");
        a.resource_id = item->id;
    } else {
        if (blank(in.resource_id))
            return bad_request("resource_id is required when resource_type is not 'item'");
        a.resource_id = in.resource_id;
    }

    if (in.signers.size() > kMaxSigners)
        return bad_request("signers may name at most " + std::to_string(kMaxSigners) + " entries");
    SILO_CHECK(validate_designations(*wf, in.signers));
    std::set<std::pair<std::string, std::string>> seen;  // (username key, role)
    for (std::size_t i = 0; i < in.signers.size(); ++i) {
        const auto& d = in.signers[i];
        const auto at = "signers[" + std::to_string(i) + "]";
        if (!seen.emplace(to_lower(d.username), d.role).second)
            return bad_request(at + " repeats " + d.username + " for role " + d.role);
        auto u = UserRepository::find_by_username(tx, d.username);
        if (!u) return bad_request(at + ".username '" + d.username + "' is not a known user");
        if (!u->active)
            return bad_request(at + ".username '" + d.username + "' is not an active user");
        // A designee who could never sign would leave the gate open for ever.
        if (!may_sign_gate(d.role, u->role))
            return bad_request(u->username + " is " + role_name(u->role) + " and cannot sign the " + d.role +
                               " gate of " + wf->name + ", which needs the " + d.role + " role or above");
        if (!allow_self_approval_ && u->username == actor.username)
            return bad_request(u->username + " asks for this approval and may not sign it "
                               "(approvals.allow_self_approval is false): name someone else");
        a.signers.push_back({u->username, d.role});
    }
    SILO_CHECK(check_completable(tx, *wf, a.signers, actor));

    SILO_TRY(a.state, initial_state(*wf, in.draft));
    a.id = new_uuid();
    a.item_id = item->id;
    a.part_number = item->part_number;
    a.workflow = wf->name;
    a.created_by = a.updated_by = actor.username;
    a.created_at = a.updated_at = now_millis();
    ApprovalRepository::insert(tx, a);

    auto signers = nlohmann::json::array();
    for (const auto& s : a.signers) signers.push_back({{"username", s.username}, {"role", s.role}});
    record(tx, actor.username, "approval.created", a, nlohmann::json::object(),
           {{"eco_number", a.eco_number ? nlohmann::json(*a.eco_number) : nlohmann::json()},
            {"signers", std::move(signers)}},
           a.created_at);
    return a;
}

// Every required gate needs a signer of its own: somebody who could sign it and is not needed
// for another one (a person signs an approval once). Otherwise the approval could never be
// approved: 400.
Status ApprovalService::check_completable(sql::Tx& tx, const Workflow& wf, const std::vector<ApprovalSigner>& signers,
                                          const Principal& actor) const {
    std::vector<const WorkflowGate*> required;
    for (const auto& g : wf.gates)
        if (g.required && std::none_of(required.begin(), required.end(),
                                       [&](const WorkflowGate* r) { return r->role == g.role; }))
            required.push_back(&g);
    std::vector<std::vector<std::string>> candidates;
    for (const auto* g : required) {
        auto& who = candidates.emplace_back();
        for (const auto& d : signers)
            if (d.role == g->role) who.push_back(d.username);
        if (who.empty()) {
            auto need = parse_role(g->role);
            if (!need)
                return bad_request("the " + g->label + " gate (" + g->role + ") of " + wf.name +
                                   " needs a designated signer: name one in 'signers'");
            // auth.enabled: false: every request, a signature included, is the synthetic admin.
            if (actor.synthetic) {
                if (allow_self_approval_) who.push_back(actor.username);
            } else {
                who = UserRepository::eligible_usernames(tx, *need, allow_self_approval_ ? "" : actor.username,
                                                         static_cast<std::int64_t>(required.size()));
            }
        }
        if (who.empty())
            return bad_request("nobody could sign the " + g->label + " gate of " + wf.name + ": it needs an active " +
                               g->role + " or above" + (allow_self_approval_ ? "" : " other than " + actor.username));
    }
    if (!gates_get_distinct_signers(candidates))
        return bad_request("the " + std::to_string(required.size()) + " required gates of " + wf.name +
                           " need as many different signers, and fewer could sign them: name other signers");
    return {};
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<ApprovalRecord> ApprovalService::get(const std::string& id) {
    return db_.transact<ApprovalRecord>(sql::TxMode::read,
                                        [&](sql::Tx& tx) { return get_in(tx, id); });
}

Result<ApprovalRecord> ApprovalService::get_in(sql::Tx& tx, const std::string& id) {
    auto key = canonical_id(id);
    if (!key) return approval_not_found(id);
    auto a = ApprovalRepository::find(tx, *key);
    if (!a) return approval_not_found(id);
    return std::move(*a);
}

Result<ApprovalPage> ApprovalService::list_for_item(const std::string& part_number,
                                                    std::int64_t limit, std::int64_t offset) {
    if (!valid_part_number(part_number)) return item_not_found(part_number);
    return db_.transact<ApprovalPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<ApprovalPage> {
        auto item = ItemRepository::find_by_part_number(tx, part_number);
        if (!item) return item_not_found(part_number);
        return ApprovalRepository::list_for_item(tx, item->id, limit, offset);
    });
}

Result<ApprovalPage> ApprovalService::list(const Principal& caller, const ApprovalQuery& q) {
    // A filter that no approval could ever match is a mistake, not an empty list.
    if (!q.state.empty() && q.state != kStateCancelled &&
        std::none_of(workflows_.begin(), workflows_.end(), [&](const auto& w) { return w.second.has_state(q.state); }))
        return bad_request("state '" + q.state + "' is not a state of any loaded workflow (nor cancelled)");
    if (!q.resource_type.empty() && !valid_resource_type(q.resource_type))
        return bad_request("resource_type must be 1-64 characters of a-z 0-9 _ . -");
    return db_.transact<ApprovalPage>(sql::TxMode::read, [&](sql::Tx& tx) -> Result<ApprovalPage> {
        if (!q.inbox)
            return ApprovalRepository::list(tx, {q.state, q.resource_type}, q.limit, q.offset);

        // The inbox: pending approvals the caller may sign now. Eligibility needs the workflow
        // definitions, so the candidates (pending, not signed by the caller, not created by
        // them unless self-approval is allowed) are filtered here and paged in memory.
        ApprovalPage page;
        if (!q.state.empty() && q.state != kStatePending) return page;
        SILO_TRY(auto me, signer_info(tx, caller));
        auto candidates = ApprovalRepository::unsigned_by(tx, kStatePending, q.resource_type,
                                                          me.username, !allow_self_approval_);
        std::vector<ApprovalRecord> eligible;
        for (auto& a : candidates) {
            const Workflow* wf = workflow(a.workflow);
            if (!wf) continue;
            if (gate_for_signer(*wf, approval_state(a), approval_designations(a), me, a.created_by,
                                allow_self_approval_)
                    .ok())
                eligible.push_back(std::move(a));
        }
        page.total = static_cast<std::int64_t>(eligible.size());
        const auto from = std::min<std::int64_t>(std::max<std::int64_t>(q.offset, 0), page.total);
        const auto to =
            std::min<std::int64_t>(from + std::max<std::int64_t>(q.limit, 0), page.total);
        page.approvals.assign(std::make_move_iterator(eligible.begin() + from),
                              std::make_move_iterator(eligible.begin() + to));
        return page;
    });
}

Result<std::optional<ApprovalRecord>> ApprovalService::find_pending(
    sql::Tx& tx, const std::string& resource_type, const std::string& resource_id) {
    return ApprovalRepository::find_for_resource(tx, resource_type, resource_id,
                                                 {kStatePending, kStateDraft});
}

// ---------------------------------------------------------------------------------------------
// Changes

Result<ApprovalRecord> ApprovalService::submit(const Principal& actor, const std::string& id) {
    auto key = canonical_id(id);
    if (!key) return approval_not_found(id);
    auto submitted = transact_as<ApprovalRecord>(
        db_, actor, [&](sql::Tx& tx) -> Result<ApprovalRecord> {
            if (!ApprovalRepository::lock(tx, *key)) return approval_not_found(id);
            auto a = ApprovalRepository::find(tx, *key);
            if (!a) return approval_not_found(id);
            if (actor.username != a->created_by && actor.role != Role::admin)
                return forbidden("only the creator of an approval or an admin may submit it");
            if (a->state != kStateDraft)
                return conflict("approval is " + a->state + "; only a draft can be submitted");
            a->state = kStatePending;
            a->updated_at = now_millis();
            a->updated_by = actor.username;
            ApprovalRepository::set_state(tx, a->id, a->state, a->updated_at, a->updated_by);
            record(tx, actor.username, "approval.submitted", *a, nlohmann::json::object(),
                   nlohmann::json::object(), a->updated_at);
            return std::move(*a);
        });
    if (submitted.ok()) events_.committed();
    return submitted;
}

Result<ApprovalRecord> ApprovalService::sign(const Principal& signer, const std::string& id,
                                             const SignInput& in,
                                             const std::optional<std::string>& part_number) {
    if (in.status != kSignApproved && in.status != kSignRejected)
        return bad_request("status must be 'approved' or 'rejected'");
    if (in.comment.size() > kMaxComment)
        return bad_request("comment must be at most " + std::to_string(kMaxComment) + " bytes");
    if (part_number && !valid_part_number(*part_number)) return item_not_found(*part_number);
    auto key = canonical_id(id);
    if (!key) return approval_not_found(id);

    auto signed_ = transact_as<ApprovalRecord>(
        db_, signer, [&](sql::Tx& tx) -> Result<ApprovalRecord> {
            std::optional<ItemRecord> item;
            if (part_number) {
                item = ItemRepository::find_by_part_number(tx, *part_number);
                if (!item) return item_not_found(*part_number);
            }
            // Lock first, then read: a concurrent signer of this approval waits here and then sees
            // this signature (and the state it led to).
            if (!ApprovalRepository::lock(tx, *key)) return approval_not_found(id);
            auto a = ApprovalRepository::find(tx, *key);
            if (!a) return approval_not_found(id);
            if (item && a->item_id != item->id)
                return not_found("approval '" + id + "' is not an approval of item '" +
                                 *part_number + "'");
            const Workflow* wf = workflow(a->workflow);
            if (!wf) {
                if (a->state != kStateDraft && a->state != kStatePending)
                    return conflict("approval is " + a->state + "; it accepts no more signatures");
                return conflict("the workflow '" + a->workflow +
                                "' of this approval is not loaded");
            }
            SILO_TRY(auto me, signer_info(tx, signer));
            SILO_TRY(auto gate, gate_for_signer(*wf, approval_state(*a), approval_designations(*a),
                                                me, a->created_by, allow_self_approval_));

            const Millis now = now_millis();
            ApprovalSignature sig{me.username, gate, in.status, in.comment, now};
            ApprovalRepository::insert_signature(
                tx, a->id, static_cast<std::int64_t>(a->signatures.size()) + 1, sig);
            a->signatures.push_back(sig);
            a->state = next_state(*wf, approval_state(*a).signatures);
            a->updated_at = now;
            a->updated_by = me.username;
            ApprovalRepository::set_state(tx, a->id, a->state, now, me.username);
            const bool completed = is_terminal(*wf, a->state);
            // The hook runs before this transaction's own appends: the append lock is taken last
            // (storage/append_log.hpp), after the row locks the hook may need.
            if (completed)
                if (auto hook = hook_for(a->resource_type)) SILO_CHECK((*hook)(tx, *a, a->state));
            record(tx, me.username, "approval.signed", *a,
                   {{"username", me.username}, {"status", in.status}},
                   {{"role", gate}, {"comment", in.comment}}, now);
            if (completed)
                record(tx, me.username, "approval.completed", *a, nlohmann::json::object(),
                       nlohmann::json::object(), now);
            return std::move(*a);
        });
    if (signed_.ok()) events_.committed();
    return signed_;
}

Result<ApprovalRecord> ApprovalService::withdraw(const Principal& actor, const std::string& id,
                                                 const std::string& reason) {
    if (reason.size() > kMaxComment)
        return bad_request("reason must be at most " + std::to_string(kMaxComment) + " bytes");
    auto key = canonical_id(id);
    if (!key) return approval_not_found(id);
    auto withdrawn = transact_as<ApprovalRecord>(db_, actor, [&](sql::Tx& tx) -> Result<ApprovalRecord> {
        if (!ApprovalRepository::lock(tx, *key)) return approval_not_found(id);
        auto a = ApprovalRepository::find(tx, *key);
        if (!a) return approval_not_found(id);
        if (actor.username != a->created_by && actor.role != Role::admin)
            return forbidden("only the creator of an approval or an admin may cancel it");
        if (a->state != kStateDraft && a->state != kStatePending)
            return conflict("approval is " + a->state + "; it cannot be cancelled");
        a->state = kStateCancelled;
        a->updated_at = now_millis();
        a->updated_by = actor.username;
        ApprovalRepository::set_state(tx, a->id, a->state, a->updated_at, actor.username);
        if (auto hook = hook_for(a->resource_type)) SILO_CHECK((*hook)(tx, *a, a->state));
        record(tx, actor.username, "approval.completed", *a, nlohmann::json::object(), {{"reason", reason}},
               a->updated_at);
        return std::move(*a);
    });
    if (withdrawn.ok()) events_.committed();
    return withdrawn;
}

Status ApprovalService::cancel(sql::Tx& tx, const std::string& approval_id,
                               const std::string& actor) {
    auto key = canonical_id(approval_id);
    if (!key) return approval_not_found(approval_id);
    if (!ApprovalRepository::lock(tx, *key)) return approval_not_found(approval_id);
    auto a = ApprovalRepository::find(tx, *key);
    if (!a) return approval_not_found(approval_id);
    if (a->state != kStateDraft && a->state != kStatePending)
        return conflict("approval is " + a->state + "; it cannot be cancelled");
    a->state = kStateCancelled;
    a->updated_at = now_millis();
    a->updated_by = actor;
    ApprovalRepository::set_state(tx, a->id, a->state, a->updated_at, actor);
    record(tx, actor, "approval.completed", *a, nlohmann::json::object(), nlohmann::json::object(),
           a->updated_at);
    return {};
}

}  // namespace silo
