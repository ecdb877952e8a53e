// Contract tests of SessionRepository's sweeper queries on both dialects: a session is due for
// release while it stays idle or its workstation stays away, and no longer once it is back.
#include "storage/session_repository.hpp"

#include "core/ids.hpp"
#include "storage/item_repository.hpp"
#include "storage/workstation_repository.hpp"
#include "support/test_db.hpp"

#include <future>
#include <thread>

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;

class SessionRepositoryTest : public test::DialectTest {
  protected:
    void SetUp() override {
        DialectTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ItemRecord item;
        item.id = new_uuid();
        item.part_number = "SW-1";
        item.item_type = "part";
        item.created_at = item.updated_at = 1000;
        item.created_by = "alice";
        WorkstationRecord ws{new_uuid(), "u-alice", "alice-1", "fp-1", 1000, std::nullopt, std::nullopt};
        session.id = new_uuid();
        session.item_id = item.id;
        session.user_id = "u-alice";
        session.username = "alice";
        session.workstation_id = ws.id;
        session.context_level = "sketch";
        session.object_id = "Sketch001";
        session.acquired_at = 2000;
        session.last_heartbeat = 2000;
        write([&](Tx& tx) {
            ASSERT_TRUE(ItemRepository::insert(tx, item));
            ASSERT_TRUE(WorkstationRepository::insert(tx, ws));
            ASSERT_TRUE(SessionRepository::insert(tx, session));
        });
    }

    void write(const std::function<void(Tx&)>& fn) {
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            fn(tx);
            return {};
        });
        ASSERT_TRUE(st.ok()) << st.error().message;
    }

    // {in expired(), still_expired(), in disconnected(), still_disconnected()} at the cutoff.
    std::vector<bool> due(Millis before) {
        std::vector<bool> out;
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            out = {SessionRepository::expired(tx, before).size() == 1,
                   SessionRepository::still_expired(tx, session.id, before),
                   SessionRepository::disconnected(tx, before).size() == 1,
                   SessionRepository::still_disconnected(tx, session.id, before)};
            return {};
        });
        EXPECT_TRUE(st.ok()) << st.error().message;
        return out;
    }

    SessionRecord session;
};

TEST_P(SessionRepositoryTest, IdleUntilAHeartbeat) {
    EXPECT_EQ(due(2000), (std::vector<bool>{false, false, false, false})) << "not idle before its last heartbeat";
    EXPECT_EQ(due(3000), (std::vector<bool>{true, true, false, false}));
    write([&](Tx& tx) { SessionRepository::heartbeat(tx, {session.workstation_id}, 3500); });
    EXPECT_EQ(due(3000), (std::vector<bool>{false, false, false, false})) << "the heartbeat keeps it";
}

TEST_P(SessionRepositoryTest, AwayUntilTheWorkstationComesBack) {
    write([&](Tx& tx) { WorkstationRepository::disconnected(tx, session.workstation_id, 2500); });
    EXPECT_EQ(due(2400), (std::vector<bool>{true, true, false, false})) << "within the grace";
    EXPECT_EQ(due(2600)[2], true);
    EXPECT_EQ(due(2600)[3], true);
    write([&](Tx& tx) { WorkstationRepository::seen(tx, {session.workstation_id}, 2700); });
    EXPECT_EQ(due(2600)[2], false) << "back before the sweep: kept";
    EXPECT_EQ(due(2600)[3], false);
}

TEST_P(SessionRepositoryTest, ChecksOnlyTheNamedSession) {
    write([&](Tx& tx) { WorkstationRepository::disconnected(tx, session.workstation_id, 2500); });
    auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        EXPECT_FALSE(SessionRepository::still_expired(tx, new_uuid(), 3000));
        EXPECT_FALSE(SessionRepository::still_disconnected(tx, new_uuid(), 3000));
        return {};
    });
    EXPECT_TRUE(st.ok());
}

// The sweeper's check runs while a reconnect's write is still open: it waits for it and sees
// the workstation back (a plain read would see the old row on PostgreSQL and release).
TEST_P(SessionRepositoryTest, AReconnectCommittingDuringTheCheckKeepsTheSession) {
    write([&](Tx& tx) { WorkstationRepository::disconnected(tx, session.workstation_id, 2500); });
    std::promise<void> reconnect_open;
    std::thread reconnect([&] {
        write([&](Tx& tx) {
            WorkstationRepository::seen(tx, {session.workstation_id}, 2700);
            reconnect_open.set_value();
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        });
    });
    reconnect_open.get_future().wait();
    bool due_now = true;
    write([&](Tx& tx) { due_now = SessionRepository::still_disconnected(tx, session.id, 2600); });
    reconnect.join();
    EXPECT_FALSE(due_now);
}

SILO_INSTANTIATE_DIALECTS(SessionRepositoryTest);

}  // namespace
}  // namespace silo
