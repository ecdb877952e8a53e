// Workflows and approvals (API.md §8): create, submit, sign, list, the approver's inbox, and
// the hooks through which other services act when an approval of their resource completes.
//
// Rules live in domain/workflow.hpp (the pure state machine); this service adds storage,
// eligibility from the signer's current user record, audit rows and events. Every public
// method that takes no sql::Tx runs one transaction. The *_in / cancel / find_pending methods
// run inside the caller's transaction instead, for services that change an approval together
// with their own rows (force-release, issue 7); after such a transaction commits, the caller
// must call its EventNotifier::committed() for the approval events to be delivered.
//
// Signing serialises per approval (ApprovalRepository::lock, then re-read, then decide), so
// two signers of the last required gate at the same instant, on any number of server
// instances sharing the database, complete the approval once: the second sees it terminal
// (409). Completion hooks run inside the deciding signature's transaction, exactly once.
//
// Thread-safe. Hooks are meant to be registered at start-up, before the server serves.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/role.hpp"
#include "domain/workflow.hpp"
#include "service/events.hpp"
#include "storage/approval_repository.hpp"
#include "storage/sql.hpp"

namespace silo {

struct CreateApprovalInput {
    std::string workflow;
    std::optional<std::string> eco_number;
    std::vector<Designation> signers;  // designated signers per gate role
    bool draft = false;
    std::string resource_type = "item";
    std::string resource_id;  // empty: the item's id (resource_type "item" only)
};

struct SignInput {
    std::string status;  // "approved" | "rejected" (anything else: 400)
    std::string comment;
};

struct ApprovalQuery {
    std::string state;          // empty: any
    std::string resource_type;  // empty: any
    bool inbox = false;         // signer=me: pending approvals the caller may sign and has not
    std::int64_t limit = 100;
    std::int64_t offset = 0;
};

class ApprovalService {
  public:
    // Runs inside the transaction of the signature that moved the approval to final_state (a
    // state other than draft/pending; "cancelled" when withdrawn), after the approval row is
    // updated and before
    // the approval.signed / approval.completed rows are appended (so the hook's own audit rows
    // and events precede them). An error rolls the signature back and is the signer's answer.
    // It may run again if the transaction is retried (busy database): it must do all its work
    // through tx.
    using CompletionHook = std::function<Status(sql::Tx& tx, const ApprovalRecord& approval,
                                                const std::string& final_state)>;

    ApprovalService(sql::Database& db, EventNotifier& events,
                    std::map<std::string, Workflow> workflows, bool allow_self_approval)
        : db_(db),
          events_(events),
          workflows_(std::move(workflows)),
          allow_self_approval_(allow_self_approval) {}

    // The loaded workflows, by name.
    const std::map<std::string, Workflow>& workflows() const { return workflows_; }
    // nullptr when no workflow has this name.
    const Workflow* workflow(const std::string& name) const;

    // POST /api/items/{pn}/approvals. 404 unknown item; 400 unknown workflow, bad designations
    // (unknown or inactive usernames among them), a draft of a workflow without draft, a bad
    // resource, or a resource_type that a completion hook manages (such approvals are created
    // by their service only).
    Result<ApprovalRecord> create(const Principal& actor, const std::string& part_number,
                                  const CreateApprovalInput& in);

    // The same inside the caller's transaction, for the item with id item_id, without the
    // managed resource_type check. Writes the approval.created audit row and event.
    Result<ApprovalRecord> create_in(sql::Tx& tx, const Principal& actor,
                                     const std::string& item_id, const CreateApprovalInput& in);

    // 404 when there is no such approval (or id is not a UUID).
    Result<ApprovalRecord> get(const std::string& id);
    Result<ApprovalRecord> get_in(sql::Tx& tx, const std::string& id);

    // The approvals of a live item, newest first. 404 unknown item.
    Result<ApprovalPage> list_for_item(const std::string& part_number, std::int64_t limit,
                                       std::int64_t offset);

    // GET /api/approvals: by state and resource_type, newest first; with inbox, only pending
    // approvals that `caller` is eligible to sign now and has not signed. 400 for a state no
    // loaded workflow declares (cancelled aside) or a malformed resource_type.
    Result<ApprovalPage> list(const Principal& caller, const ApprovalQuery& q);

    // draft -> pending, by the creator or an admin (else 403). 409 when not a draft. Writes
    // the approval.submitted audit row and event.
    Result<ApprovalRecord> submit(const Principal& actor, const std::string& id);

    // Records the caller's signature and moves the approval on (API.md §8). part_number, when
    // given, must be the approval's item (else 404). 400 unknown status or too long a comment
    // (checked before anything is read); 404 unknown approval; 403 not eligible; 409 already
    // signed, draft or terminal, or a workflow that is no longer loaded. Writes approval.signed
    // (+ approval.completed and the completion hook when it decides the approval).
    Result<ApprovalRecord> sign(const Principal& signer, const std::string& id, const SignInput& in,
                                const std::optional<std::string>& part_number = std::nullopt);

    // POST /api/approvals/{id}/cancel: the creator or an admin withdraws a draft or pending
    // approval (403 anyone else; 404 unknown; 409 already terminal; 400 reason too long). It
    // becomes `cancelled`; a managed resource type's completion hook runs with final state
    // "cancelled" (a force-release request is dropped and its holder told); the
    // approval.completed audit row carries the reason.
    Result<ApprovalRecord> withdraw(const Principal& actor, const std::string& id, const std::string& reason);

    // Registers what happens when an approval of resource_type completes (one hook per type;
    // a second registration replaces the first). It also runs, with final state "cancelled",
    // when a person withdraws the approval (withdraw), but not when the owning service
    // cancels it itself (cancel).
    void on_complete(const std::string& resource_type, CompletionHook hook);

    // Inside the caller's transaction: sets a draft or pending approval to `cancelled` (a
    // terminal state; no hook runs), with the approval.completed audit row and event. 404
    // unknown; 409 already terminal. It takes the approval's row lock: call it before the
    // transaction appends its own audit rows or events (appends come last, see
    // storage/append_log.hpp), or a concurrent signature may deadlock with it (PostgreSQL
    // detects that and the transaction is retried, after a delay).
    Status cancel(sql::Tx& tx, const std::string& approval_id, const std::string& actor);

    // Inside the caller's transaction: the newest pending (or draft) approval of a resource.
    Result<std::optional<ApprovalRecord>> find_pending(sql::Tx& tx,
                                                       const std::string& resource_type,
                                                       const std::string& resource_id);

  private:
    std::optional<CompletionHook> hook_for(const std::string& resource_type) const;
    Result<SignerInfo> signer_info(sql::Tx& tx, const Principal& p) const;
    Status check_completable(sql::Tx& tx, const Workflow& wf, const std::vector<ApprovalSigner>& signers,
                             const Principal& actor) const;
    Result<ApprovalRecord> create_checked(sql::Tx& tx, const Principal& actor,
                                          const std::string& item_id, const CreateApprovalInput& in,
                                          bool managed_ok);

    sql::Database& db_;
    EventNotifier& events_;
    const std::map<std::string, Workflow> workflows_;
    const bool allow_self_approval_;
    mutable std::mutex hooks_mu_;
    std::map<std::string, CompletionHook> hooks_;
};

// The domain view of a stored approval (for the pure state machine).
ApprovalState approval_state(const ApprovalRecord& a);
std::vector<Designation> approval_designations(const ApprovalRecord& a);

}  // namespace silo
