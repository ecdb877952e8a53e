// Approval workflows (API.md §8): the YAML definitions in workflows.directory and the pure
// approval state machine (next state after a signature, who may sign which gate).
//
// No I/O except load_workflows(), which reads the workflow files. Every function here is
// thread-safe: none keeps state.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/role.hpp"

namespace silo {

// State names the server gives a meaning to.
inline constexpr const char* kStateDraft = "draft";
inline constexpr const char* kStatePending = "pending";
inline constexpr const char* kStateCancelled = "cancelled";  // reserved: never declared in a file

// Signature statuses.
inline constexpr const char* kSignApproved = "approved";
inline constexpr const char* kSignRejected = "rejected";

// One sign-off step. role is either an auth role (viewer, editor, admin: anyone at that level or
// above may sign, unless the approval designates signers for it) or any other label such as
// "quality" (only designated signers may sign). A signature is recorded against the gate role,
// so gates that share a role are satisfied by the same signature.
struct WorkflowGate {
    std::string role;
    std::string label;
    bool required = true;
};

// A workflow file:
//
//   workflow:
//     name: session-override         # 1-64 of A-Z a-z 0-9 . _ -  (unique across files)
//     version: 1                     # positive integer
//     description: "..."             # optional
//     states: [draft, pending, approved, rejected]   # unique; must hold pending; draft optional;
//                                                     # cancelled is reserved by the server
//     gates:                         # non-empty; at least one required; labels unique
//       - role: admin
//         label: "Admin Authorization"
//         required: true             # default true
//     rules:
//       any_reject: rejected         # both required, declared states other than pending/draft,
//       all_required_approve: approved   # and different from each other
//
// Unknown keys at any level are errors.
struct Workflow {
    std::string name;
    int version = 1;
    std::string description;
    std::vector<std::string> states;
    std::vector<WorkflowGate> gates;
    std::string any_reject;
    std::string all_required_approve;
    std::string file;  // the source file, as passed to parse_workflow (not part of to_json)

    bool has_state(const std::string& state) const;
    bool has_gate_role(const std::string& role) const;

    // {name, version, description, states, gates: [{role, label, required}],
    //  rules: {any_reject, all_required_approve}} — the GET /api/workflows object, no wrapper.
    nlohmann::json to_json() const;
};

// Parses and validates one workflow document. file names the source in error messages and is
// stored in Workflow::file. Errors are Errc::bad_request with a message
// "<file>: '<field>' <problem>", e.g.
//   "session-override.yaml: 'workflow.rules.any_reject' names state 'rejectd', which is not in
//    workflow.states".
Result<Workflow> parse_workflow(const std::string& yaml_text, const std::string& file);

// Every *.yaml / *.yml regular file of directory, in sorted order, one workflow per file, by
// name. Files with other extensions are ignored. A bad file (or one that cannot be read) fails
// naming the file; two files declaring one name fail naming both. A missing directory yields an
// empty map; a path that exists but is not a directory fails.
Result<std::map<std::string, Workflow>> load_workflows(const std::string& directory);

// ---------------------------------------------------------------------------------------------
// The state machine.

struct Signature {
    std::string username;
    std::string role;    // the gate role it signs for
    std::string status;  // "approved" | "rejected"
};

struct ApprovalState {
    std::string state;
    std::vector<Signature> signatures;
};

// A designated signer for a gate role of one approval.
struct Designation {
    std::string username;
    std::string role;
};

// The would-be signer, as the service knows them.
struct SignerInfo {
    std::string username;
    Role role = Role::viewer;
    bool active = true;
};

// The state a new approval starts in: pending, or draft when asked for one. bad_request when a
// draft is asked for and the workflow does not declare draft.
Result<std::string> initial_state(const Workflow& wf, bool draft);

// True for every state other than draft and pending (so also "cancelled" and unknown states):
// a terminal approval accepts no more signatures.
bool is_terminal(const Workflow& wf, const std::string& state);

// The state implied by a set of signatures (eligibility is not checked): any "rejected"
// signature gives rules.any_reject (whichever gate it signs, required or optional); otherwise,
// when every required gate's role has at least one "approved" signature,
// rules.all_required_approve; otherwise "pending". Statuses other than approved/rejected count
// for nothing.
std::string next_state(const Workflow& wf, const std::vector<Signature>& signatures);

// The gate role `signer` would sign for in `approval`, or an error:
//   Errc::conflict  "approval is <state>; it accepts no more signatures" (terminal or draft);
//   Errc::conflict  "<user> has already signed";
//   Errc::forbidden when the signer is inactive, is the creator while allow_self_approval is
//                   false, or is eligible for no gate. Eligibility per gate: when the approval
//                   has designations for the gate role, only those users, and for an auth gate
//                   role only while their role is at least that role (may_sign_gate); otherwise,
//                   for an auth gate role, any user whose role is at least that role; a gate
//                   role that is not an auth role needs a designation;
//   Errc::conflict  when every gate the signer is eligible for is already settled (required:
//                   approved; optional: signed): such a signature would decide nothing.
// Among several eligible gates the signer takes a required gate without an approved
// signature, else an optional gate nobody has signed; within each, a gate they were
// designated for before one their role opens.
Result<std::string> gate_for_signer(const Workflow& wf, const ApprovalState& approval,
                                    const std::vector<Designation>& designations,
                                    const SignerInfo& signer, const std::string& creator,
                                    bool allow_self_approval);

// Whether a user with `role` may be designated for, and sign, a gate of gate_role: for an
// auth gate role (viewer, editor, admin) the role must be at least that one; any user may be
// designated for another gate role.
bool may_sign_gate(const std::string& gate_role, Role role);

// Whether each required gate can get a signer of its own (one person signs an approval
// once): candidates[i] lists who could sign the i-th distinct required gate role. A bipartite
// matching; a gate with as many candidates as there are gates always finds one, so callers
// may cut each list at candidates.size() names.
bool gates_get_distinct_signers(const std::vector<std::vector<std::string>>& candidates);

// Checks the designations given when an approval is created: each needs a non-empty username
// and a role that is a gate role of wf. bad_request naming the entry ("signers[1].role ...").
Status validate_designations(const Workflow& wf, const std::vector<Designation>& designations);

}  // namespace silo
