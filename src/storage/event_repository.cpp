#include "storage/event_repository.hpp"

#include "storage/append_log.hpp"

namespace silo {

namespace {
constexpr const char* kHead = "SELECT last_id, pruned_through FROM event_head WHERE id = 1";
constexpr const char* kInsertHead = "INSERT INTO event_head (id, last_id, pruned_through) VALUES (1, $1, 0)";
constexpr const char* kUpdateHead = "UPDATE event_head SET last_id = $1 WHERE id = 1";
constexpr const char* kInsert =
    "INSERT INTO events (id, at, type, audience, audience_id, data) VALUES ($1, $2, $3, $4, $5, $6)";
constexpr const char* kAfter =
    "SELECT id, at, type, audience, audience_id, data FROM events WHERE id > $1 ORDER BY id LIMIT $2";
constexpr const char* kNotify = "SELECT pg_notify('silo_events', $1)";
}  // namespace

std::int64_t EventRepository::append(sql::Tx& tx, EventRecord ev) {
    lock_append_logs(tx);
    auto head = tx.query_one(kHead);
    ev.id = head ? head->i64(0) + 1 : 1;
    tx.exec(kInsert, {ev.id, ev.at, ev.type, std::string(audience_name(ev.audience)), ev.audience_id, ev.data});
    tx.exec(head ? kUpdateHead : kInsertHead, {ev.id});
    if (tx.dialect() == sql::Dialect::postgres) tx.query(kNotify, {std::to_string(ev.id)});
    return ev.id;
}

std::vector<EventRecord> EventRepository::after(sql::Tx& tx, std::int64_t after_id, std::int64_t limit) {
    std::vector<EventRecord> out;
    for (const auto& r : tx.query(kAfter, {after_id, limit})) {
        EventRecord e;
        e.id = r.i64(0);
        e.at = r.i64(1);
        e.type = r.str(2);
        e.audience = parse_audience(r.str(3)).value_or(Audience::everyone);
        e.audience_id = r.str(4);
        e.data = r.str(5);
        out.push_back(std::move(e));
    }
    return out;
}

std::int64_t EventRepository::last_id(sql::Tx& tx) {
    auto head = tx.query_one(kHead);
    return head ? head->i64(0) : 0;
}

std::int64_t EventRepository::pruned_through(sql::Tx& tx) {
    auto head = tx.query_one(kHead);
    return head ? head->i64(1) : 0;
}

std::int64_t EventRepository::prune(sql::Tx& tx, Millis before) {
    auto top = tx.query_one("SELECT MAX(id) FROM events WHERE at < $1", {before});
    if (!top || top->is_null(0)) return 0;
    auto through = top->i64(0);
    auto n = tx.exec("DELETE FROM events WHERE id <= $1", {through});
    tx.exec("UPDATE event_head SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1", {through});
    return n;
}

}  // namespace silo
