#include "events/hub.hpp"

#include "core/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

namespace silo {

namespace {
constexpr const char* kSessionAcquired = "edit.session_acquired";
constexpr const char* kSessionReleased = "edit.session_released";
}  // namespace

EventHub::EventHub(Options options, EventSource& source) : opts_(std::move(options)), source_(source) {}

void EventHub::start() {
    delivered_upto_ = source_.last_id();
    fetched_upto_ = delivered_upto_;
}

std::string EventHub::frame(const EventRecord& e) {
    std::string f;
    f.reserve(e.type.size() + e.data.size() + 40);
    f += "id: ";
    f += std::to_string(e.id);
    f += "\nevent: ";
    f += e.type;
    f += "\ndata: ";
    f += e.data;
    f += "\n\n";
    return f;
}

const std::shared_ptr<const std::string>& EventHub::heartbeat_frame() {
    static const auto f = std::make_shared<const std::string>("event: heartbeat\ndata: {}\n\n");
    return f;
}

const std::shared_ptr<const std::string>& EventHub::reset_frame(ResetReason reason) {
    static const auto truncated =
        std::make_shared<const std::string>("event: stream.reset\ndata: {\"reason\":\"history_truncated\"}\n\n");
    static const auto ahead =
        std::make_shared<const std::string>("event: stream.reset\ndata: {\"reason\":\"unknown_event_id\"}\n\n");
    return reason == ResetReason::history_truncated ? truncated : ahead;
}

void EventHub::attach(std::shared_ptr<StreamSink> sink, Subscription sub) {
    if (sink->closed()) return;
    auto id = next_id_++;
    ++attached_;  // before reading fetched_upto_ below: see fetch()
    Conn& c = conns_[id];
    c.sink = sink;
    for (const auto& [item, session] : sub.held_sessions) c.held[item].insert(session);
    c.sub = std::move(sub);
    c.sub.held_sessions.clear();
    // A new stream follows from the newest event read so far (pages read while no stream was
    // attached were dropped, so delivered_upto_ may lag behind).
    c.cursor = c.sub.last_event_id.value_or(std::max<std::int64_t>(delivered_upto_, fetched_upto_));
    c.replaying = c.sub.last_event_id.has_value();
    bool first_for_ws = false;
    {
        std::lock_guard lk(presence_mu_);
        ++user_streams_[c.sub.user_id];
        if (!c.sub.workstation_id.empty()) first_for_ws = ++ws_streams_[c.sub.workstation_id] == 1;
    }
    if (first_for_ws && opts_.workstation_connected) opts_.workstation_connected(c.sub.workstation_id);
    sink->on_close([this, id] { detach(id); });
    if (opts_.still_admitted) {
        opts_.post_work([this, id, user = c.sub.user_id, ws = c.sub.workstation_id] {
            if (opts_.still_admitted(user, ws)) return;
            opts_.post_io([this, id] {
                auto it = conns_.find(id);
                if (it == conns_.end()) return;
                auto sink = it->second.sink;
                sink->close();
            });
        });
    }
    if (c.replaying) replay_page(id, c.cursor);
}

// Reads the page after `from`, then how far the log was pruned: if that reaches past `from`,
// the page may miss events pruned before it was read (pruned_through only grows), so the
// stream gets stream.reset instead and follows live. So does a `from` above the newest event
// (an id kept across a restore or from another deployment): what it would skip is unknown.
void EventHub::replay_page(std::uint64_t id, std::int64_t from) {
    opts_.post_work([this, id, from] {
        std::vector<EventRecord> page;
        std::int64_t pruned = 0, head = 0;
        bool failed = false;
        try {
            page = source_.after(from, opts_.page);
            pruned = source_.pruned_through();
            // Read after the page: nothing above `from` existed when the page was read if
            // `from` is still above the head now.
            if (page.empty()) head = source_.last_id();
        } catch (const std::exception& e) {
            log::error("event replay failed", {{"what", e.what()}});
            failed = true;
        }
        opts_.post_io([this, id, from, page = std::move(page), pruned, head, failed] {
            auto it = conns_.find(id);
            if (it == conns_.end()) return;
            if (failed) {
                auto sink = it->second.sink;
                sink->close();
                return;
            }
            const bool truncated = from < pruned, ahead = page.empty() && from > head;
            if (truncated || ahead) {
                // History is gone, or was never this deployment's: the client re-syncs over
                // REST, then follows live. The cursor moves before the frame goes out: what
                // the client commits once it has read it may be read from the log before this
                // thread goes on.
                it->second.cursor = std::max<std::int64_t>(delivered_upto_, fetched_upto_);
                auto sink = it->second.sink;
                if (!sink->send(reset_frame(truncated ? ResetReason::history_truncated : ResetReason::unknown_event_id)))
                    return;
                finish_replay(id);
                return;
            }
            for (const auto& e : page) {
                auto cit = conns_.find(id);
                if (cit == conns_.end()) return;
                Conn& c = cit->second;
                if (e.id <= c.cursor) continue;
                c.cursor = e.id;
                if (wants(c, e)) {
                    auto sink = c.sink;
                    if (!sink->send(std::make_shared<const std::string>(frame(e)))) return;
                }
            }
            if (static_cast<std::int64_t>(page.size()) == opts_.page)
                replay_page(id, page.back().id);
            else
                finish_replay(id);
        });
    });
}

void EventHub::finish_replay(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    c.replaying = false;
    auto pending = std::move(c.pending);
    c.pending.clear();
    // The replay read every event committed before the stream was attached; pending holds
    // every event pumped since: together they leave no gap, and the cursor drops duplicates.
    auto sink = c.sink;
    for (auto& [eid, f] : pending) {
        if (eid <= c.cursor) continue;
        c.cursor = eid;
        if (!sink->send(f)) return;  // closed: c is gone
    }
}

void EventHub::detach(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    std::string ws = it->second.sub.workstation_id;
    std::string user = it->second.sub.user_id;
    conns_.erase(it);
    --attached_;
    bool last_for_ws = false;
    {
        std::lock_guard lk(presence_mu_);
        if (--user_streams_[user] == 0) user_streams_.erase(user);
        if (!ws.empty() && --ws_streams_[ws] == 0) {
            ws_streams_.erase(ws);
            last_for_ws = true;
        }
    }
    if (last_for_ws && opts_.workstation_disconnected) opts_.workstation_disconnected(ws);
}

void EventHub::poke() {
    again_ = true;
    if (fetching_.exchange(true)) return;
    opts_.post_work([this] { fetch(); });
}

void EventHub::poke_here() {
    again_ = true;
    if (fetching_.exchange(true)) return;
    fetch();
}

void EventHub::fetch() {
    // One reader of the log at a time (fetching_); a poke while it reads makes it read again.
    for (;;) {
        again_ = false;
        std::vector<EventRecord> page;
        try {
            page = source_.after(fetched_upto_, opts_.page);
        } catch (const std::exception& e) {
            log::error("reading the event log failed", {{"what", e.what()}});
        }
        const bool full = static_cast<std::int64_t>(page.size()) == opts_.page;
        if (!page.empty()) {
            fetched_upto_ = page.back().id;
            // With no stream attached there is nobody to deliver to: a stream attached later
            // starts after fetched_upto_ (see attach), so the page can be dropped.
            if (attached_ > 0) opts_.post_io([this, page = std::move(page)] { deliver_page(page); });
        }
        if (full || again_) continue;
        fetching_ = false;
        // A poke between the check above and the store saw fetching_ still set and left the
        // read to us.
        if (!again_ || fetching_.exchange(true)) return;
    }
}

void EventHub::deliver_page(const std::vector<EventRecord>& page) {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& e : page) {
        if (e.id <= delivered_upto_) continue;
        auto f = std::make_shared<const std::string>(frame(e));
        deliver(e, f);
        delivered_upto_ = e.id;
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms > 100) log::info("slow delivery", {{"ms", ms}, {"events", page.size()}, {"streams", conns_.size()}});
}

bool EventHub::wants(const Conn& c, const EventRecord& e) const {
    switch (e.audience) {
        case Audience::everyone: return true;
        case Audience::user: return c.sub.user_id == e.audience_id;
        case Audience::workstation: return !c.sub.workstation_id.empty() && c.sub.workstation_id == e.audience_id;
        case Audience::item: return c.sub.watch_items.count(e.audience_id) || c.held.count(e.audience_id);
    }
    return false;
}

void EventHub::send_to(std::uint64_t id, Conn& c, std::int64_t event_id,
                       const std::shared_ptr<const std::string>& f) {
    if (c.replaying) {
        if (c.pending.size() >= opts_.queue_limit) {
            auto sink = c.sink;
            sink->close();  // reconnects and replays
            return;
        }
        c.pending.emplace_back(event_id, f);
        return;
    }
    if (event_id <= c.cursor) return;
    c.cursor = event_id;
    auto sink = c.sink;
    sink->send(f);  // a full queue closes the stream; on_close detaches it (c is gone then)
}

void EventHub::deliver(const EventRecord& e, const std::shared_ptr<const std::string>& f) {
    bool acquired = e.type == kSessionAcquired;
    bool released = e.type == kSessionReleased;
    if (acquired) track_holds(e);
    // Collect first: a send may close a stream, whose on_close erases it from conns_.
    std::vector<std::uint64_t> targets;
    targets.reserve(e.audience == Audience::everyone ? conns_.size() : 8);
    for (auto& [id, c] : conns_)
        if (wants(c, e)) targets.push_back(id);
    for (auto id : targets) {
        auto it = conns_.find(id);
        if (it != conns_.end()) send_to(id, it->second, e.id, f);
    }
    if (released) track_holds(e);
}

void EventHub::track_holds(const EventRecord& e) {
    auto data = nlohmann::json::parse(e.data, nullptr, false);
    if (!data.is_object()) return;
    auto ws = data.value("workstation_id", std::string());
    auto session = data.value("session_id", std::string());
    if (ws.empty()) return;
    bool add = e.type == kSessionAcquired;
    for (auto& [id, c] : conns_) {
        if (c.sub.workstation_id != ws) continue;
        if (add) {
            c.held[e.audience_id].insert(session);
        } else if (auto it = c.held.find(e.audience_id); it != c.held.end()) {
            it->second.erase(session);
            if (it->second.empty()) c.held.erase(it);
        }
    }
}

std::vector<std::string> EventHub::heartbeat() {
    std::vector<std::uint64_t> ids;
    ids.reserve(conns_.size());
    for (auto& [id, c] : conns_) ids.push_back(id);
    for (auto id : ids) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        auto sink = it->second.sink;
        sink->send(heartbeat_frame());
    }
    std::vector<std::string> online;
    std::lock_guard lk(presence_mu_);
    online.reserve(ws_streams_.size());
    for (const auto& [ws, n] : ws_streams_) online.push_back(ws);
    return online;
}

void EventHub::close_user(const std::string& user_id) {
    opts_.post_io([this, user_id] {
        std::vector<std::shared_ptr<StreamSink>> sinks;
        for (auto& [id, c] : conns_)
            if (c.sub.user_id == user_id) sinks.push_back(c.sink);
        for (auto& s : sinks) s->close();
    });
}

void EventHub::close_workstation(const std::string& workstation_id) {
    opts_.post_io([this, workstation_id] {
        std::vector<std::shared_ptr<StreamSink>> sinks;
        for (auto& [id, c] : conns_)
            if (c.sub.workstation_id == workstation_id) sinks.push_back(c.sink);
        for (auto& s : sinks) s->close();
    });
}

std::size_t EventHub::streams_of_user(const std::string& user_id) const {
    std::lock_guard lk(presence_mu_);
    auto it = user_streams_.find(user_id);
    return it == user_streams_.end() ? 0 : it->second;
}

bool EventHub::workstation_online(const std::string& workstation_id) const {
    std::lock_guard lk(presence_mu_);
    return ws_streams_.count(workstation_id) != 0;
}

}  // namespace silo
