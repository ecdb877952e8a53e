// The event hub (API.md §3): holds every open event stream of this process, decides who
// receives each event (everyone / item watchers and holders / one workstation / one user),
// replays from the durable log and switches to live with no gap and no duplicate.
//
// Threading: all hub state lives on the I/O thread. Reading the event log (SQL) happens on the
// worker pool through EventSource; the hub never sees SQL and never blocks the I/O thread.
// Methods marked "any thread" post to the I/O thread.
//
// Delivery order and exactly-once: the log's ids commit in order (see EventRepository), the hub
// pulls events with id > delivered_upto in id order, and every stream keeps a cursor (the last id
// it was sent), so an event is sent to a stream at most once and never out of order.
#pragma once

#include "core/event.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace silo {

// Reads the durable event log. Called on worker threads; thread-safe.
class EventSource {
public:
    virtual ~EventSource() = default;
    virtual std::vector<EventRecord> after(std::int64_t after_id, std::int64_t limit) = 0;
    virtual std::int64_t last_id() = 0;
    virtual std::int64_t pruned_through() = 0;
};

// What one stream receives.
struct Subscription {
    std::string user_id;
    std::string workstation_id;                    // empty: none
    std::unordered_set<std::string> watch_items;   // item ids from ?watch=
    // (item id, session id) of the edit sessions the workstation holds: those items count as
    // watched until their last session there ends.
    std::vector<std::pair<std::string, std::string>> held_sessions;
    std::optional<std::int64_t> last_event_id;     // replay from here
};

class EventHub {
public:
    struct Options {
        std::size_t queue_limit = 1024;     // frames queued per stream before it is dropped
        std::int64_t page = 1000;           // events read from the log per query
        std::function<void(std::function<void()>)> post_io;
        std::function<void(std::function<void()>)> post_work;
        // Workstation presence on this instance: first stream opened / last stream closed.
        std::function<void(const std::string& ws)> workstation_connected;
        std::function<void(const std::string& ws)> workstation_disconnected;
        // Checked on the pool once a stream is attached: whether its user is still active and
        // its workstation ('' for none) still registered. A deactivation or a delete that
        // committed while the stream was being opened closed only the streams attached then.
        std::function<bool(const std::string& user_id, const std::string& workstation_id)> still_admitted;
    };

    EventHub(Options options, EventSource& source);

    // Starts after the newest stored event (call once before serving, any thread).
    void start();

    // I/O thread: takes over a stream that has just sent its SSE header.
    void attach(std::shared_ptr<StreamSink> sink, Subscription sub);

    // Any thread: new events may have been committed (locally or by another instance). The
    // log is read on a worker.
    void poke();
    // The same, reading the log on the calling thread, which may block (a worker that has
    // just committed, the listener thread): saves waking another thread.
    void poke_here();

    // I/O thread: sends a heartbeat frame on every stream; returns the workstation ids that
    // have an open stream here (their last_seen and sessions get refreshed).
    std::vector<std::string> heartbeat();

    // Any thread: closes every stream of a user (deactivated) or of a workstation (deleted).
    void close_user(const std::string& user_id);
    void close_workstation(const std::string& workstation_id);

    // Any thread: how many streams a user has open here, and whether a workstation has one.
    std::size_t streams_of_user(const std::string& user_id) const;
    bool workstation_online(const std::string& workstation_id) const;

    // SSE framing (exposed for tests).
    static std::string frame(const EventRecord& e);
    static const std::shared_ptr<const std::string>& heartbeat_frame();
    // stream.reset with reason "history_truncated" (Last-Event-ID older than the retention
    // window) or "unknown_event_id" (above the newest event: a client that kept its id across
    // a restore). Either way the client re-syncs over REST and the stream follows live.
    enum class ResetReason { history_truncated, unknown_event_id };
    static const std::shared_ptr<const std::string>& reset_frame(ResetReason reason = ResetReason::history_truncated);

private:
    struct Conn {
        std::shared_ptr<StreamSink> sink;
        Subscription sub;
        std::int64_t cursor = 0;     // last event id sent to this stream
        bool replaying = false;
        std::vector<std::pair<std::int64_t, std::shared_ptr<const std::string>>> pending;  // live events during replay
        std::unordered_map<std::string, std::unordered_set<std::string>> held;  // item -> sessions held via its workstation
    };

    void fetch();
    void deliver_page(const std::vector<EventRecord>& page);
    void deliver(const EventRecord& e, const std::shared_ptr<const std::string>& frame);
    bool wants(const Conn& c, const EventRecord& e) const;
    void send_to(std::uint64_t id, Conn& c, std::int64_t event_id, const std::shared_ptr<const std::string>& frame);
    void replay_page(std::uint64_t id, std::int64_t from);
    void finish_replay(std::uint64_t id);
    void detach(std::uint64_t id);
    void track_holds(const EventRecord& e);

    Options opts_;
    EventSource& source_;
    std::unordered_map<std::uint64_t, Conn> conns_;
    std::uint64_t next_id_ = 1;
    std::int64_t delivered_upto_ = 0;  // I/O thread
    // The log reader (one worker at a time): how far it has read, whether it runs, whether
    // it must read again.
    std::atomic<std::int64_t> fetched_upto_{0};
    std::atomic<bool> fetching_{false};
    std::atomic<bool> again_{false};
    std::atomic<std::size_t> attached_{0};  // streams in conns_ (written on the I/O thread)

    // Presence, readable from any thread.
    mutable std::mutex presence_mu_;
    std::unordered_map<std::string, std::size_t> user_streams_;
    std::unordered_map<std::string, std::size_t> ws_streams_;
};

}  // namespace silo
