// The durable event log behind the SSE hub (API.md §3). Every event is stored in the same
// transaction as the change that caused it; ids are one gap-free sequence for the whole
// deployment, assigned under the append lock so they commit in order (a reader that has seen
// id n has seen every id below it). On PostgreSQL each append also NOTIFYs the channel
// silo_events with the id, delivered on commit to every instance. Stateless; throws DbError.
#pragma once

#include "core/clock.hpp"
#include "core/event.hpp"
#include "storage/sql.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace silo {

inline constexpr const char* kEventChannel = "silo_events";

class EventRepository {
public:
    // Appends an event in the caller's transaction (takes the append lock); returns its id.
    static std::int64_t append(sql::Tx& tx, EventRecord ev);
    // Events with id > after_id, oldest first, at most limit.
    static std::vector<EventRecord> after(sql::Tx& tx, std::int64_t after_id, std::int64_t limit);
    // The newest id ever assigned (0 when none).
    static std::int64_t last_id(sql::Tx& tx);
    // The highest id removed by pruning (0 when nothing was pruned): a client whose last
    // event id is below it has missed events.
    static std::int64_t pruned_through(sql::Tx& tx);
    // Removes events older than `before`; returns how many.
    static std::int64_t prune(sql::Tx& tx, Millis before);
};

}  // namespace silo
