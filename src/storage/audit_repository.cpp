#include "storage/audit_repository.hpp"

#include "core/sha256.hpp"
#include "storage/append_log.hpp"

#include <algorithm>

namespace silo {

namespace {

constexpr const char* kLastRow = "SELECT last_id, last_hash FROM audit_head WHERE id = 1";
constexpr const char* kInsertRow =
    "INSERT INTO audit_log (id, at, actor, action, resource_type, resource_id, details, prev_hash, hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
constexpr const char* kInsertHead = "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, $1, $2)";
constexpr const char* kUpdateHead = "UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1";
constexpr const char* kColumns = "id, at, actor, action, resource_type, resource_id, details, prev_hash, hash";
constexpr std::int64_t kVerifyPage = 1000;

AuditEntry read_entry(const sql::Row& r) {
    AuditEntry e;
    e.id = r.i64(0);
    e.at = r.i64(1);
    e.actor = r.str(2);
    e.action = r.str(3);
    e.resource_type = r.str(4);
    e.resource_id = r.str(5);
    e.details = r.str(6);
    e.prev_hash = r.str(7);
    e.hash = r.str(8);
    return e;
}

void add_field(std::string& buf, const std::string& v) {
    buf += std::to_string(v.size());
    buf += ':';
    buf += v;
    buf += ';';
}

}  // namespace

std::string AuditRepository::row_hash(const std::string& prev_hash, std::int64_t id, Millis at,
                                      const std::string& actor, const std::string& action,
                                      const std::string& resource_type, const std::string& resource_id,
                                      const std::string& details) {
    std::string buf;
    add_field(buf, prev_hash);
    add_field(buf, std::to_string(id));
    add_field(buf, std::to_string(at));
    add_field(buf, actor);
    add_field(buf, action);
    add_field(buf, resource_type);
    add_field(buf, resource_id);
    add_field(buf, details);
    return sha256_hex(buf);
}

std::int64_t AuditRepository::append(sql::Tx& tx, const AuditRecord& rec, Millis at) {
    lock_append_logs(tx);
    auto head = tx.query_one(kLastRow);
    std::int64_t id = head ? head->i64(0) + 1 : 1;
    std::string prev = head ? head->str(1) : std::string();
    std::string details = rec.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string hash = row_hash(prev, id, at, rec.actor, rec.action, rec.resource_type, rec.resource_id, details);
    tx.exec(kInsertRow, {id, at, rec.actor, rec.action, rec.resource_type, rec.resource_id, details, prev, hash});
    tx.exec(head ? kUpdateHead : kInsertHead, {id, hash});
    return id;
}

AuditPage AuditRepository::list(sql::Tx& tx, const AuditFilter& f) {
    sql::Where w;
    w.add("action", f.action).add("resource_type", f.resource_type).add("resource_id", f.resource_id).add("actor", f.actor);
    if (f.since) w.add("at", *f.since, ">=");
    AuditPage page;
    page.total = tx.query_one("SELECT COUNT(*) FROM audit_log" + w.sql, w.params)->i64(0);
    sql::Params paged;
    auto limit = w.page(paged, f.limit, f.offset);
    for (const auto& r : tx.query(std::string("SELECT ") + kColumns + " FROM audit_log" + w.sql + " ORDER BY id DESC" + limit, paged))
        page.entries.push_back(read_entry(r));
    return page;
}

AuditVerification AuditRepository::verify(sql::Tx& tx, const std::optional<AuditAnchor>& anchor) {
    AuditVerification v;
    std::string prev;
    std::int64_t expected = 1;
    bool anchor_seen = false;
    auto bad = [&](std::int64_t id) {
        v.ok = false;
        v.first_bad_id = id;
        return v;
    };
    while (true) {
        auto rows = tx.query(std::string("SELECT ") + kColumns + " FROM audit_log WHERE id >= $1 ORDER BY id LIMIT $2",
                             {expected, kVerifyPage});
        for (const auto& r : rows) {
            auto e = read_entry(r);
            if (e.id != expected) return bad(expected);  // a deleted row
            if (e.prev_hash != prev ||
                e.hash != row_hash(prev, e.id, e.at, e.actor, e.action, e.resource_type, e.resource_id, e.details))
                return bad(e.id);
            if (anchor && e.id == anchor->id) {
                if (e.hash != anchor->hash) return bad(e.id);  // rewritten since it was anchored
                anchor_seen = true;
            }
            prev = e.hash;
            ++expected;
            ++v.checked;
        }
        if (static_cast<std::int64_t>(rows.size()) < kVerifyPage) break;
    }
    // Rows with ids below 1 were never written by silod.
    if (tx.query_one("SELECT COUNT(*) FROM audit_log WHERE id < 1")->i64(0) > 0)
        return bad(tx.query_one("SELECT MIN(id) FROM audit_log")->i64(0));
    std::int64_t last = expected - 1;
    v.head_id = last;
    v.head_hash = prev;
    if (anchor && !anchor_seen) return bad(std::min(anchor->id, last + 1));  // the anchored row is gone
    auto head = tx.query_one(kLastRow);
    if (!head) {
        if (last > 0) return bad(last);  // the head row was removed
    } else if (head->i64(0) != last) {
        return bad(std::min(head->i64(0), last) + 1);  // rows deleted from, or added to, the tail
    } else if (head->str(1) != prev) {
        return bad(last);
    }
    return v;
}

}  // namespace silo
