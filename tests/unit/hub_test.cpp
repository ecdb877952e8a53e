// The event hub's rules without sockets or SQL: audiences, cursors, replay merging, holds,
// back-pressure. Posting is synchronous here, so every step is deterministic.
#include "events/hub.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>
#include <utility>

using namespace silo;

namespace {

class FakeSource final : public EventSource {
public:
    std::vector<EventRecord> events;
    std::int64_t pruned = 0;
    std::function<void()> before_read;  // runs as a read of the log starts (once)
    std::vector<EventRecord> after(std::int64_t after_id, std::int64_t limit) override {
        if (auto f = std::exchange(before_read, nullptr)) f();
        std::vector<EventRecord> out;
        for (const auto& e : events)
            if (e.id > after_id && static_cast<std::int64_t>(out.size()) < limit) out.push_back(e);
        return out;
    }
    std::int64_t last_id() override { return events.empty() ? 0 : events.back().id; }
    std::int64_t pruned_through() override { return pruned; }
    void add(std::string type, Audience a, std::string aid, std::string data = "{}") {
        EventRecord e;
        e.id = last_id() + 1;
        e.type = std::move(type);
        e.audience = a;
        e.audience_id = std::move(aid);
        e.data = std::move(data);
        events.push_back(std::move(e));
    }
};

class FakeSink final : public StreamSink {
public:
    explicit FakeSink(std::size_t limit = 100) : limit_(limit) {}
    bool send(std::shared_ptr<const std::string> frame) override {
        if (closed_) return false;
        if (frames.size() >= limit_) {
            close();
            return false;
        }
        frames.push_back(*frame);
        if (on_send) on_send(*frame);
        return true;
    }
    void close() override {
        if (closed_) return;
        closed_ = true;
        for (auto& cb : callbacks_) cb();
    }
    bool closed() const override { return closed_; }
    void on_close(std::function<void()> fn) override { callbacks_.push_back(std::move(fn)); }
    // The event types received, in order (heartbeats and resets included).
    std::vector<std::string> types() const {
        std::vector<std::string> out;
        for (const auto& f : frames) {
            auto p = f.find("event: ");
            out.push_back(f.substr(p + 7, f.find('\n', p) - p - 7));
        }
        return out;
    }
    std::vector<std::string> frames;
    // The client reacting to a frame the moment it is written (before send() returns).
    std::function<void(const std::string&)> on_send;

private:
    std::size_t limit_;
    bool closed_ = false;
    std::vector<std::function<void()>> callbacks_;
};

struct Rig {
    FakeSource source;
    std::deque<std::function<void()>> io, work;
    std::unique_ptr<EventHub> hub;
    std::vector<std::string> connected, disconnected;
    std::set<std::string> gone_users, gone_workstations;  // deactivated / deleted
    explicit Rig(std::size_t queue_limit = 100) {
        EventHub::Options o;
        o.queue_limit = queue_limit;
        o.post_io = [this](std::function<void()> fn) { io.push_back(std::move(fn)); };
        o.post_work = [this](std::function<void()> fn) { work.push_back(std::move(fn)); };
        o.workstation_connected = [this](const std::string& ws) { connected.push_back(ws); };
        o.workstation_disconnected = [this](const std::string& ws) { disconnected.push_back(ws); };
        o.still_admitted = [this](const std::string& user, const std::string& ws) {
            return !gone_users.count(user) && !gone_workstations.count(ws);
        };
        hub = std::make_unique<EventHub>(o, source);
        hub->start();
    }
    // Runs posted work until nothing is left (bounded).
    void drain() {
        for (int i = 0; i < 10000 && (!io.empty() || !work.empty()); ++i) {
            if (!work.empty()) {
                auto f = std::move(work.front());
                work.pop_front();
                f();
            } else {
                auto f = std::move(io.front());
                io.pop_front();
                f();
            }
        }
    }
    std::shared_ptr<FakeSink> attach(Subscription sub, std::size_t limit = 100) {
        auto sink = std::make_shared<FakeSink>(limit);
        hub->attach(sink, std::move(sub));
        drain();
        return sink;
    }
    void publish() {
        hub->poke();
        drain();
    }
    // n item.created events for everyone, committed and read.
    void publish_created(int n) {
        for (int i = 0; i < n; ++i) source.add("item.created", Audience::everyone, "");
        publish();
    }
};

Subscription sub(std::string user, std::string ws = "", std::vector<std::string> watch = {}) {
    Subscription s;
    s.user_id = std::move(user);
    s.workstation_id = std::move(ws);
    s.watch_items.insert(watch.begin(), watch.end());
    return s;
}

// A stream of `user` that last saw event `last_id`.
Subscription sub_from(std::string user, std::int64_t last_id) {
    auto s = sub(std::move(user));
    s.last_event_id = last_id;
    return s;
}

}  // namespace

TEST(EventHub, EachAudienceReachesOnlyItsStreams) {
    Rig rig;
    auto alice_ws1 = rig.attach(sub("alice", "ws1"));
    auto alice_ws2 = rig.attach(sub("alice", "ws2"));
    auto bob = rig.attach(sub("bob", "ws3"));
    auto watcher = rig.attach(sub("carol", "", {"item-1"}));

    rig.source.add("item.created", Audience::everyone, "");
    rig.source.add("edit.force_released", Audience::workstation, "ws1");
    rig.source.add("edit.handoff_declined", Audience::user, "alice");
    rig.source.add("checkpoint.created", Audience::item, "item-1");
    rig.source.add("checkpoint.created", Audience::item, "item-2");
    rig.publish();

    EXPECT_EQ(alice_ws1->types(), (std::vector<std::string>{"item.created", "edit.force_released", "edit.handoff_declined"}));
    EXPECT_EQ(alice_ws2->types(), (std::vector<std::string>{"item.created", "edit.handoff_declined"}));
    EXPECT_EQ(bob->types(), (std::vector<std::string>{"item.created"}));
    EXPECT_EQ(watcher->types(), (std::vector<std::string>{"item.created", "checkpoint.created"}));
    EXPECT_NE(watcher->frames[1].find("id: 4\n"), std::string::npos);
}

TEST(EventHub, HoldersOfAnItemAreItsWatchersUntilRelease) {
    Rig rig;
    auto holder = rig.attach(sub("alice", "ws1"));
    auto other = rig.attach(sub("bob", "ws2"));
    rig.source.add("edit.session_acquired", Audience::item, "item-1", R"({"workstation_id":"ws1","session_id":"s1"})");
    rig.source.add("checkpoint.created", Audience::item, "item-1");
    rig.source.add("edit.session_released", Audience::item, "item-1", R"({"workstation_id":"ws1","session_id":"s1"})");
    rig.source.add("checkpoint.created", Audience::item, "item-1");
    rig.publish();
    EXPECT_EQ(holder->types(),
              (std::vector<std::string>{"edit.session_acquired", "checkpoint.created", "edit.session_released"}));
    EXPECT_TRUE(other->types().empty());

    // Holds known at connect time (from the database) count too.
    auto s = sub("alice", "ws9");
    s.held_sessions = {{"item-7", "s7"}, {"item-7", "s8"}};
    auto reconnected = rig.attach(s);
    rig.source.add("checkpoint.created", Audience::item, "item-7");
    rig.publish();
    EXPECT_EQ(reconnected->types(), (std::vector<std::string>{"checkpoint.created"}));
    // Releasing one of two sessions on the item keeps the workstation following it.
    rig.source.add("edit.session_released", Audience::item, "item-7", R"({"workstation_id":"ws9","session_id":"s7"})");
    rig.source.add("checkpoint.created", Audience::item, "item-7");
    rig.source.add("edit.session_released", Audience::item, "item-7", R"({"workstation_id":"ws9","session_id":"s8"})");
    rig.source.add("checkpoint.created", Audience::item, "item-7");
    rig.publish();
    EXPECT_EQ(reconnected->types(), (std::vector<std::string>{"checkpoint.created", "edit.session_released",
                                                              "checkpoint.created", "edit.session_released"}));
}

TEST(EventHub, ReplayThenLiveWithoutGapOrDuplicate) {
    Rig rig;
    for (int i = 0; i < 5; ++i) rig.source.add("item.created", Audience::everyone, "");
    rig.publish();
    auto s = sub("alice");
    s.last_event_id = 2;
    auto sink = std::make_shared<FakeSink>();
    rig.hub->attach(sink, s);
    // Events committed while the replay is being read arrive once, in order.
    rig.source.add("item.updated", Audience::everyone, "");
    rig.hub->poke();
    rig.drain();
    rig.source.add("item.deleted", Audience::everyone, "");
    rig.publish();
    ASSERT_EQ(sink->frames.size(), 5u);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(sink->frames[i].rfind("id: " + std::to_string(i + 3) + "\n", 0), 0u) << sink->frames[i];
}

TEST(EventHub, EventsReadWhileNoStreamIsAttachedAreNotDeliveredLaterButReplayed) {
    Rig rig;
    for (int i = 0; i < 3; ++i) rig.source.add("item.created", Audience::everyone, "");
    rig.publish();
    EXPECT_TRUE(rig.io.empty()) << "nothing to deliver to: the pages are dropped";
    // A new stream follows from the newest event: the three are history, not news.
    auto fresh = rig.attach(sub("alice"));
    rig.source.add("item.updated", Audience::everyone, "");
    rig.publish();
    ASSERT_EQ(fresh->frames.size(), 1u);
    EXPECT_EQ(fresh->frames[0].rfind("id: 4\n", 0), 0u) << fresh->frames[0];
    // A stream that asks for them gets them by replay.
    auto s = sub("bob");
    s.last_event_id = 1;
    auto replayed = rig.attach(s);
    ASSERT_EQ(replayed->frames.size(), 3u);
    EXPECT_EQ(replayed->frames[0].rfind("id: 2\n", 0), 0u) << replayed->frames[0];
}

TEST(EventHub, HistoryOlderThanRetentionResets) {
    Rig rig;
    rig.publish_created(5);
    rig.source.pruned = 3;
    auto sink = rig.attach(sub_from("alice", 1));
    ASSERT_EQ(sink->types(), (std::vector<std::string>{"stream.reset"}));
    EXPECT_EQ(sink->frames[0].find("id:"), std::string::npos) << "a reset carries no id";
    rig.source.add("item.created", Audience::everyone, "");
    rig.publish();
    EXPECT_EQ(sink->types(), (std::vector<std::string>{"stream.reset", "item.created"}));
}

// issue 20: a Last-Event-ID above the newest event (kept across a restore or a reset) used to
// give a stream that silently dropped every event up to that id. It gets stream.reset
// (unknown_event_id) and follows live from the head.
TEST(EventHub, LastEventIdAboveTheHeadResetsAndFollowsFromTheHead) {
    Rig rig;
    rig.publish_created(5);
    auto sink = rig.attach(sub_from("alice", 50));
    ASSERT_EQ(sink->types(), (std::vector<std::string>{"stream.reset"}));
    EXPECT_NE(sink->frames[0].find("\"reason\":\"unknown_event_id\""), std::string::npos) << sink->frames[0];
    EXPECT_EQ(sink->frames[0].find("id:"), std::string::npos) << "a reset carries no id";
    rig.publish_created(1);  // id 6, far below the client's 50
    ASSERT_EQ(sink->types(), (std::vector<std::string>{"stream.reset", "item.created"}));
    EXPECT_EQ(sink->frames[1].rfind("id: 6\n", 0), 0u) << sink->frames[1];
    // At the head exactly, nothing is unknown: no reset.
    auto at_head = rig.attach(sub_from("bob", 6));
    EXPECT_TRUE(at_head->frames.empty());
    rig.publish_created(1);
    EXPECT_EQ(at_head->types(), (std::vector<std::string>{"item.created"}));
}

// The client may act on stream.reset before the hub's thread goes on: an event it commits
// then, and the log reader reads at once, is news to it and must arrive.
TEST(EventHub, AnEventCommittedTheMomentAResetIsWrittenArrives) {
    Rig rig;
    rig.publish_created(5);
    rig.source.pruned = 3;
    auto sink = std::make_shared<FakeSink>();
    sink->on_send = [&rig](const std::string& frame) {
        if (frame.find("stream.reset") == std::string::npos) return;
        rig.source.add("item.updated", Audience::everyone, "");
        rig.hub->poke_here();
    };
    rig.hub->attach(sink, sub_from("alice", 1));
    rig.drain();
    ASSERT_EQ(sink->types(), (std::vector<std::string>{"stream.reset", "item.updated"}));
    EXPECT_EQ(sink->frames[1].rfind("id: 6\n", 0), 0u) << sink->frames[1];
}

// The pruner runs between the replay's retention check and its read of the log: the page
// misses the pruned events, so the stream must get stream.reset, not a silent gap.
TEST(EventHub, HistoryPrunedWhileTheReplayReadsResets) {
    Rig rig;
    rig.publish_created(5);
    rig.source.before_read = [&rig] {
        auto& ev = rig.source.events;
        ev.erase(ev.begin(), ev.begin() + 3);
        rig.source.pruned = 3;
    };
    auto sink = rig.attach(sub_from("alice", 1));
    EXPECT_EQ(sink->types(), (std::vector<std::string>{"stream.reset"}));
    rig.source.add("item.updated", Audience::everyone, "");
    rig.publish();
    EXPECT_EQ(sink->types(), (std::vector<std::string>{"stream.reset", "item.updated"}));
}

TEST(EventHub, AFullStreamIsDroppedWhileOthersGetEverything) {
    Rig rig;
    auto slow = rig.attach(sub("alice", "ws1"), 3);
    auto fast = rig.attach(sub("bob", "ws2"), 1000);
    for (int i = 0; i < 10; ++i) rig.source.add("item.created", Audience::everyone, "");
    rig.publish();
    EXPECT_TRUE(slow->closed());
    EXPECT_EQ(fast->frames.size(), 10u);
    EXPECT_EQ(rig.hub->streams_of_user("alice"), 0u);
    EXPECT_EQ(rig.hub->streams_of_user("bob"), 1u);
    EXPECT_EQ(rig.disconnected, (std::vector<std::string>{"ws1"}));
}

TEST(EventHub, PresenceAndClosingByUserOrWorkstation) {
    Rig rig;
    auto a1 = rig.attach(sub("alice", "ws1"));
    auto a2 = rig.attach(sub("alice", "ws1"));
    auto b = rig.attach(sub("bob", "ws2"));
    EXPECT_EQ(rig.connected, (std::vector<std::string>{"ws1", "ws2"}));
    EXPECT_TRUE(rig.hub->workstation_online("ws1"));
    auto online = rig.hub->heartbeat();
    EXPECT_EQ(online.size(), 2u);
    EXPECT_EQ(a1->types(), (std::vector<std::string>{"heartbeat"}));
    a1->close();
    EXPECT_TRUE(rig.disconnected.empty()) << "ws1 still has a stream";
    rig.hub->close_user("alice");
    rig.drain();
    EXPECT_TRUE(a2->closed());
    EXPECT_EQ(rig.disconnected, (std::vector<std::string>{"ws1"}));
    rig.hub->close_workstation("ws2");
    rig.drain();
    EXPECT_TRUE(b->closed());
    EXPECT_FALSE(rig.hub->workstation_online("ws2"));
}

// The request was authenticated, then the user was deactivated (or the workstation deleted) and
// their open streams closed, and only then was this stream attached: the check after attach
// closes it.
TEST(EventHub, AStreamAttachedAfterItsUserOrWorkstationWentIsClosed) {
    Rig rig;
    rig.gone_users.insert("alice");
    rig.gone_workstations.insert("ws9");
    auto a = rig.attach(sub("alice", "ws1"));
    auto b = rig.attach(sub("bob", "ws9"));
    auto c = rig.attach(sub("carol", "ws3"));
    EXPECT_TRUE(a->closed());
    EXPECT_TRUE(b->closed());
    EXPECT_FALSE(c->closed());
    EXPECT_EQ(rig.hub->streams_of_user("alice"), 0u);
    EXPECT_FALSE(rig.hub->workstation_online("ws9"));
    EXPECT_TRUE(rig.hub->workstation_online("ws3"));
}
