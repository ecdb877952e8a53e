#include "service/events.hpp"

#include "core/clock.hpp"
#include "storage/event_repository.hpp"

#include <stdexcept>

namespace silo {

std::int64_t emit(sql::Tx& tx, const std::string& type, Audience audience, const std::string& audience_id,
                  const nlohmann::json& data) {
    EventRecord e;
    e.at = now_millis();
    e.type = type;
    e.audience = audience;
    e.audience_id = audience_id;
    e.data = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return EventRepository::append(tx, std::move(e));
}

namespace {
// EventSource reports failures by throwing (the hub logs them and retries on the next poke).
template <class T>
T value_or_throw(Result<T> r) {
    if (!r.ok()) throw std::runtime_error(r.error().message);
    return std::move(r).value();
}
}  // namespace

std::vector<EventRecord> DatabaseEventSource::after(std::int64_t after_id, std::int64_t limit) {
    return value_or_throw(db_.transact<std::vector<EventRecord>>(
        sql::TxMode::lookup, [&](sql::Tx& tx) -> Result<std::vector<EventRecord>> {
            return EventRepository::after(tx, after_id, limit);
        }));
}

std::int64_t DatabaseEventSource::last_id() {
    return value_or_throw(db_.transact<std::int64_t>(sql::TxMode::read, [](sql::Tx& tx) -> Result<std::int64_t> {
        return EventRepository::last_id(tx);
    }));
}

std::int64_t DatabaseEventSource::pruned_through() {
    return value_or_throw(db_.transact<std::int64_t>(sql::TxMode::read, [](sql::Tx& tx) -> Result<std::int64_t> {
        return EventRepository::pruned_through(tx);
    }));
}

std::int64_t DatabaseEventSource::prune(Millis before) {
    return value_or_throw(db_.transact<std::int64_t>(sql::TxMode::write, [&](sql::Tx& tx) -> Result<std::int64_t> {
        return EventRepository::prune(tx, before);
    }));
}

}  // namespace silo
