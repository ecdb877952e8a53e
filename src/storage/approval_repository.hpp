// Approvals, their designated signers and their signatures (API.md §8): the SQL behind the
// approval service.
//
// Every method runs inside the caller's transaction and throws sql::DbError on a database
// failure (the transaction boundary turns it into an Error). Records come back complete: the
// item's part number, the designated signers in the order given, the signatures in signing
// order. Listing order is newest first (by insertion sequence). Stateless; safe to call from
// any thread with its own Tx.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "storage/sql.hpp"

namespace silo {

struct ApprovalSigner {
    std::string username;
    std::string role;  // the gate role they are designated for
};

struct ApprovalSignature {
    std::string username;
    std::string role;    // the gate role the signature counts for
    std::string status;  // "approved" | "rejected"
    std::string comment;
    Millis signed_at = 0;
};

struct ApprovalRecord {
    std::string id;
    std::string item_id;
    std::string part_number;  // of item_id (read through a join; not stored)
    std::string workflow;
    std::optional<std::string> eco_number;
    std::string resource_type;
    std::string resource_id;
    std::string state;
    std::string created_by;
    Millis created_at = 0;
    Millis updated_at = 0;
    std::string updated_by;
    std::vector<ApprovalSigner> signers;
    std::vector<ApprovalSignature> signatures;
};

struct ApprovalPage {
    std::vector<ApprovalRecord> approvals;
    std::int64_t total = 0;  // all matches, regardless of limit and offset
};

struct ApprovalFilter {
    std::string state;          // empty: any
    std::string resource_type;  // empty: any
};

class ApprovalRepository {
  public:
    // Inserts the approval and its designated signers (part_number and signatures are
    // ignored). Needs a write transaction.
    static void insert(sql::Tx& tx, const ApprovalRecord& a);

    // Takes the approval's write lock for the rest of the transaction (bumps its version: a
    // row lock on PostgreSQL, so concurrent callers queue here until this one ends; SQLite
    // writers are already serialised). False when there is no such approval. Call it before
    // reading an approval that the transaction will change.
    static bool lock(sql::Tx& tx, std::string_view id);

    static std::optional<ApprovalRecord> find(sql::Tx& tx, std::string_view id);

    // The newest approval of this resource whose state is one of `states`.
    static std::optional<ApprovalRecord> find_for_resource(sql::Tx& tx,
                                                           std::string_view resource_type,
                                                           std::string_view resource_id,
                                                           const std::vector<std::string>& states);

    // The approvals of one item, newest first.
    static ApprovalPage list_for_item(sql::Tx& tx, std::string_view item_id, std::int64_t limit,
                                      std::int64_t offset);

    // Every approval matching the filter, newest first.
    static ApprovalPage list(sql::Tx& tx, const ApprovalFilter& filter, std::int64_t limit,
                             std::int64_t offset);

    // Every approval in `state` (and of resource_type, unless empty) that `username` has not
    // signed, newest first, complete. When exclude_creator is true, the approvals username
    // created are left out too. The candidates for an approver's inbox.
    static std::vector<ApprovalRecord> unsigned_by(sql::Tx& tx, std::string_view state,
                                                   std::string_view resource_type,
                                                   std::string_view username, bool exclude_creator);

    // Appends a signature as number `position` (1-based signing order). A second signature of
    // the same user on the approval is a unique violation. Needs a write transaction.
    static void insert_signature(sql::Tx& tx, std::string_view approval_id, std::int64_t position,
                                 const ApprovalSignature& s);

    // Sets the state, updated_at and updated_by. Needs a write transaction.
    static void set_state(sql::Tx& tx, std::string_view id, std::string_view state, Millis at,
                          std::string_view by);
};

}  // namespace silo
