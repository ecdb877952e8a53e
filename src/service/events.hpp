// How services publish events: append in the same transaction as the change (emit), then,
// after commit, tell the hub that new events exist (EventNotifier::committed). The hub pulls
// them from the log, so a service never touches a socket.
#pragma once

#include "core/event.hpp"
#include "events/hub.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace silo {

class EventNotifier {
public:
    virtual ~EventNotifier() = default;
    // Called after a transaction that appended events committed. Thread-safe.
    virtual void committed() = 0;
};

// Does nothing (command-line tools, tests without a hub).
class NullNotifier final : public EventNotifier {
public:
    void committed() override {}
};

// Appends one event to the log inside tx; returns its id.
std::int64_t emit(sql::Tx& tx, const std::string& type, Audience audience, const std::string& audience_id,
                  const nlohmann::json& data);

// The hub's view of the durable log.
class DatabaseEventSource final : public EventSource {
public:
    explicit DatabaseEventSource(sql::Database& db) : db_(db) {}
    std::vector<EventRecord> after(std::int64_t after_id, std::int64_t limit) override;
    std::int64_t last_id() override;
    std::int64_t pruned_through() override;
    // Removes events older than the retention window; returns how many.
    std::int64_t prune(Millis before);

private:
    sql::Database& db_;
};

}  // namespace silo
