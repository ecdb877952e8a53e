#include "storage/approval_repository.hpp"

#include <algorithm>
#include <map>

namespace silo {

namespace {

// The same SQL serves both dialects. part_number comes from the item (archived or not).
constexpr const char* kSelect =
    "SELECT a.id, a.item_id, i.part_number, a.workflow, a.eco_number, a.resource_type,"
    " a.resource_id, a.state, a.created_by, a.created_at, a.updated_at, a.updated_by"
    " FROM approvals a JOIN items i ON i.id = a.item_id";

constexpr const char* kInsert =
    "INSERT INTO approvals (id, item_id, workflow, eco_number, resource_type, resource_id, state,"
    " created_by, created_at, updated_at, updated_by, version)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)";

constexpr const char* kInsertSigner =
    "INSERT INTO approval_signers (approval_id, position, username, role) VALUES ($1, $2, $3, $4)";

constexpr const char* kInsertSignature =
    "INSERT INTO approval_signatures (approval_id, position, username, role, status, comment,"
    " signed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

constexpr const char* kLock = "UPDATE approvals SET version = version + 1 WHERE id = $1";

constexpr const char* kSetState =
    "UPDATE approvals SET state = $2, updated_at = $3, updated_by = $4 WHERE id = $1";

// Children are fetched for many approvals at once, this many ids per statement (well below
// either database's limit on parameters).
constexpr std::size_t kChunk = 500;

ApprovalRecord to_approval(const sql::Row& r) {
    ApprovalRecord a;
    a.id = r.str(0);
    a.item_id = r.str(1);
    a.part_number = r.str(2);
    a.workflow = r.str(3);
    a.eco_number = r.opt_str(4);
    a.resource_type = r.str(5);
    a.resource_id = r.str(6);
    a.state = r.str(7);
    a.created_by = r.str(8);
    a.created_at = r.i64(9);
    a.updated_at = r.i64(10);
    a.updated_by = r.str(11);
    return a;
}

// "$<first>, $<first+1>, ..." for n parameters.
std::string placeholders(std::size_t first, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        out += '$';
        out += std::to_string(first + i);
    }
    return out;
}

// Fills signers and signatures of every approval in `out`.
void attach_children(sql::Tx& tx, std::vector<ApprovalRecord>& out) {
    std::map<std::string, ApprovalRecord*> by_id;
    for (auto& a : out) by_id[a.id] = &a;
    for (std::size_t start = 0; start < out.size(); start += kChunk) {
        const std::size_t n = std::min(kChunk, out.size() - start);
        sql::Params ids;
        ids.reserve(n);
        for (std::size_t i = 0; i < n; ++i) ids.emplace_back(out[start + i].id);
        const std::string in = " IN (" + placeholders(1, n) + ")";
        for (const auto& r :
             tx.query("SELECT approval_id, username, role FROM approval_signers WHERE approval_id" +
                          in + " ORDER BY approval_id, position",
                      ids))
            by_id.at(r.str(0))->signers.push_back({r.str(1), r.str(2)});
        for (const auto& r :
             tx.query("SELECT approval_id, username, role, status, comment, signed_at"
                      " FROM approval_signatures WHERE approval_id" +
                          in + " ORDER BY approval_id, position",
                      ids))
            by_id.at(r.str(0))->signatures.push_back(
                {r.str(1), r.str(2), r.str(3), r.str(4), r.i64(5)});
    }
}

std::vector<ApprovalRecord> read_all(sql::Tx& tx, const std::string& sql, const sql::Params& p) {
    std::vector<ApprovalRecord> out;
    for (const auto& r : tx.query(sql, p)) out.push_back(to_approval(r));
    attach_children(tx, out);
    return out;
}

}  // namespace

void ApprovalRepository::insert(sql::Tx& tx, const ApprovalRecord& a) {
    tx.exec(kInsert,
            {a.id, a.item_id, a.workflow, sql::opt(a.eco_number), a.resource_type, a.resource_id,
             a.state, a.created_by, a.created_at, a.updated_at, a.updated_by});
    std::int64_t position = 0;
    for (const auto& s : a.signers) tx.exec(kInsertSigner, {a.id, ++position, s.username, s.role});
}

bool ApprovalRepository::lock(sql::Tx& tx, std::string_view id) {
    return tx.exec(kLock, {std::string(id)}) > 0;
}

std::optional<ApprovalRecord> ApprovalRepository::find(sql::Tx& tx, std::string_view id) {
    auto all = read_all(tx, std::string(kSelect) + " WHERE a.id = $1", {std::string(id)});
    if (all.empty()) return std::nullopt;
    return std::move(all.front());
}

std::optional<ApprovalRecord> ApprovalRepository::find_for_resource(
    sql::Tx& tx, std::string_view resource_type, std::string_view resource_id,
    const std::vector<std::string>& states) {
    if (states.empty()) return std::nullopt;
    sql::Params p{std::string(resource_type), std::string(resource_id)};
    for (const auto& s : states) p.emplace_back(s);
    auto all = read_all(tx,
                        std::string(kSelect) +
                            " WHERE a.resource_type = $1 AND a.resource_id = $2 AND a.state IN (" +
                            placeholders(3, states.size()) + ") ORDER BY a.seq DESC LIMIT 1",
                        p);
    if (all.empty()) return std::nullopt;
    return std::move(all.front());
}

ApprovalPage ApprovalRepository::list_for_item(sql::Tx& tx, std::string_view item_id,
                                               std::int64_t limit, std::int64_t offset) {
    ApprovalPage page;
    page.approvals = read_all(
        tx, std::string(kSelect) + " WHERE a.item_id = $1 ORDER BY a.seq DESC LIMIT $2 OFFSET $3",
        {std::string(item_id), std::max<std::int64_t>(limit, 0),
         std::max<std::int64_t>(offset, 0)});
    page.total =
        tx.query_one("SELECT COUNT(*) FROM approvals WHERE item_id = $1", {std::string(item_id)})
            ->i64(0);
    return page;
}

ApprovalPage ApprovalRepository::list(sql::Tx& tx, const ApprovalFilter& filter, std::int64_t limit,
                                      std::int64_t offset) {
    std::string where = " WHERE 1 = 1";
    sql::Params p;
    if (!filter.state.empty()) {
        p.emplace_back(filter.state);
        where += " AND a.state = $" + std::to_string(p.size());
    }
    if (!filter.resource_type.empty()) {
        p.emplace_back(filter.resource_type);
        where += " AND a.resource_type = $" + std::to_string(p.size());
    }
    ApprovalPage page;
    page.total = tx.query_one("SELECT COUNT(*) FROM approvals a" + where, p)->i64(0);
    const auto n = p.size();
    p.emplace_back(std::max<std::int64_t>(limit, 0));
    p.emplace_back(std::max<std::int64_t>(offset, 0));
    page.approvals = read_all(tx,
                              std::string(kSelect) + where + " ORDER BY a.seq DESC LIMIT $" +
                                  std::to_string(n + 1) + " OFFSET $" + std::to_string(n + 2),
                              p);
    return page;
}

std::vector<ApprovalRecord> ApprovalRepository::unsigned_by(sql::Tx& tx, std::string_view state,
                                                            std::string_view resource_type,
                                                            std::string_view username,
                                                            bool exclude_creator) {
    sql::Params p{std::string(state), std::string(username)};
    std::string sql = std::string(kSelect) +
                      " WHERE a.state = $1 AND NOT EXISTS (SELECT 1 FROM approval_signatures s"
                      " WHERE s.approval_id = a.id AND s.username = $2)";
    if (exclude_creator) sql += " AND a.created_by <> $2";
    if (!resource_type.empty()) {
        p.emplace_back(std::string(resource_type));
        sql += " AND a.resource_type = $3";
    }
    return read_all(tx, sql + " ORDER BY a.seq DESC", p);
}

void ApprovalRepository::insert_signature(sql::Tx& tx, std::string_view approval_id,
                                          std::int64_t position, const ApprovalSignature& s) {
    tx.exec(kInsertSignature, {std::string(approval_id), position, s.username, s.role, s.status,
                               s.comment, s.signed_at});
}

void ApprovalRepository::set_state(sql::Tx& tx, std::string_view id, std::string_view state,
                                   Millis at, std::string_view by) {
    tx.exec(kSetState, {std::string(id), std::string(state), at, std::string(by)});
}

}  // namespace silo
