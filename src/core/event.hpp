// One event of the deployment-wide event stream (API.md §3): stored by the storage layer,
// delivered by the event hub.
#pragma once

#include "core/clock.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace silo {

enum class Audience { everyone, item, workstation, user };
const char* audience_name(Audience a);
std::optional<Audience> parse_audience(const std::string& s);

struct EventRecord {
    std::int64_t id = 0;
    Millis at = 0;
    std::string type;         // "item.created", "edit.session_released", ...
    Audience audience = Audience::everyone;
    std::string audience_id;  // item id, workstation id or user id; empty for everyone
    std::string data;         // one-line JSON payload
};

// A stream endpoint handed to the event hub after an SSE response header went out.
// Implemented by the HTTP server. Use only on the I/O thread.
class StreamSink {
public:
    virtual ~StreamSink() = default;
    // Queues one ready frame; false (and the stream closes) when its queue is full or closed.
    virtual bool send(std::shared_ptr<const std::string> frame) = 0;
    // Closes the stream; the close callback runs once.
    virtual void close() = 0;
    virtual bool closed() const = 0;
    // Runs once when the stream ends for any reason (client gone, close(), shutdown).
    virtual void on_close(std::function<void()> fn) = 0;
};

}  // namespace silo
