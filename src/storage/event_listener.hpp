// Cross-instance event wake-up: on PostgreSQL a dedicated connection LISTENs on silo_events
// and calls on_event for every NOTIFY (sent by EventRepository::append, delivered on commit),
// reconnecting when the connection breaks. SQLite deployments are single-process: no listener.
#pragma once

#include "storage/sql.hpp"

#include <functional>
#include <memory>

namespace silo {

class EventListener {
public:
    virtual ~EventListener() = default;  // stops the listening thread
    // True while LISTEN is in place: every commit that appends an event (this instance's
    // included) will call on_event, so a local wake-up after commit would only repeat it.
    virtual bool listening() const = 0;
};

// nullptr for SQLite. on_event runs on the listener's own thread.
std::unique_ptr<EventListener> start_event_listener(const sql::DatabaseOptions& options, std::function<void()> on_event);

}  // namespace silo
