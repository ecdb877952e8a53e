// Writes on behalf of a user re-check that user inside their own transaction (issue 20): a
// request authenticated just before its user was deactivated or demoted must not commit after
// that change; an archive waits for an acquire in flight. And a password change ends the
// user's other browser sessions. Both dialects.
#include "service/item_service.hpp"
#include "service/user_service.hpp"
#include "storage/session_repository.hpp"
#include "storage/user_repository.hpp"
#include "storage/workstation_repository.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "support/test_db.hpp"

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;
using Clock = std::chrono::steady_clock;

class ActingUserTest : public test::DialectTest {
protected:
    void SetUp() override {
        DialectTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        users_ = std::make_unique<UserService>(db(), hasher_);
        items_ = std::make_unique<ItemService>(db(), notifier_, std::map<std::string, PartNumberSchema>{});
        bob_ = add("bob", Role::editor);
        boss_ = add("boss", Role::admin);
        add("root", Role::admin);  // so that boss may be demoted
    }

    // The Principal authentication would have made for a new user.
    Principal add(const std::string& name, Role role) {
        NewUser in;
        in.username = name;
        in.password = name + "-password-1";
        in.role = role;
        auto u = users_->create(system_principal("test"), in);
        EXPECT_TRUE(u.ok()) << u.error().message;
        Principal p;
        p.user_id = u->id;
        p.username = name;
        p.role = role;
        return p;
    }
    Status patch(const std::string& username, UserPatch patch, const Principal& actor = system_principal("cli")) {
        auto r = users_->update(actor, username, patch);
        if (!r.ok()) return r.error();
        return {};
    }
    std::int64_t count(const std::string& sql, const std::string& param) {
        auto r = db().transact<std::int64_t>(TxMode::read, [&](Tx& tx) -> Result<std::int64_t> {
            return tx.query_one(sql, {param})->i64(0);
        });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : -1;
    }
    std::string add_browser_session(const Principal& p) {
        BrowserSession s;
        s.id = new_uuid();
        s.user_id = p.user_id;
        s.token_hash = random_hex(32);
        s.csrf_token = random_hex(12);
        s.created_at = now_millis();
        s.expires_at = s.created_at + 3600 * 1000;
        EXPECT_TRUE(db().transact(TxMode::write, [&](Tx& tx) -> Status {
                            BrowserSessionRepository::insert(tx, s);
                            return {};
                        })
                        .ok());
        return s.id;
    }

    PasswordHasher hasher_;
    NullNotifier notifier_;
    std::unique_ptr<UserService> users_;
    std::unique_ptr<ItemService> items_;
    Principal bob_, boss_;
};

TEST_P(ActingUserTest, AWriteByAUserDeactivatedSinceAuthenticationIsRefused) {
    // bob's request was authenticated (bob_) before an admin deactivated him.
    UserPatch off;
    off.active = false;
    ASSERT_TRUE(patch("bob", off).ok());
    CreateItemInput in;
    in.part_number = "ACT-1";
    auto r = items_->create(bob_, in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::unauthorized);
    EXPECT_EQ(count("SELECT COUNT(*) FROM items WHERE part_number = $1", "ACT-1"), 0);

    bool ran = false;
    auto st = transact_as(db(), bob_, [&](Tx&) -> Status {
        ran = true;
        return {};
    });
    EXPECT_EQ(st.error().code, Errc::unauthorized);
    EXPECT_FALSE(ran) << "nothing of the request runs";
}

TEST_P(ActingUserTest, AWriteByAUserDemotedSinceAuthenticationIsRefused) {
    UserPatch down;
    down.role = Role::editor;
    ASSERT_TRUE(patch("boss", down).ok());
    CreateItemInput in;
    in.part_number = "ACT-2";
    auto r = items_->create(boss_, in);  // authenticated as an admin
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::forbidden);
    // A principal whose role the account still has (or exceeds) passes.
    Principal as_editor = boss_;
    as_editor.role = Role::editor;
    EXPECT_TRUE(items_->create(as_editor, in).ok());
    // The synthetic admin of auth.enabled: false has no row and passes.
    in.part_number = "ACT-3";
    Principal dev = system_principal("admin");
    EXPECT_TRUE(items_->create(dev, in).ok());
}

// The race itself: a deactivation that starts while bob's write is in its transaction waits for
// that write to commit (and then ends what it wrote); it never slips in between bob's check and
// his commit. Without the row lock PostgreSQL lets the deactivation commit first.
TEST_P(ActingUserTest, ADeactivationWaitsForTheWriteInFlight) {
    std::atomic<bool> inside{false};
    std::atomic<long long> write_done_at{0}, deactivated_at{0};
    std::thread writer([&] {
        auto st = transact_as(db(), bob_, [&](Tx& tx) -> Status {
            inside = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
            tx.exec("UPDATE items SET description = 'bob wrote this' WHERE id = $1", {std::string("none")});
            write_done_at = Clock::now().time_since_epoch().count();  // the commit follows
            return {};
        });
        EXPECT_TRUE(st.ok()) << st.error().message;
    });
    for (int i = 0; i < 2500 && !inside; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const bool started = inside;
    if (started) {
        UserPatch off;
        off.active = false;
        EXPECT_TRUE(patch("bob", off).ok());
        deactivated_at = Clock::now().time_since_epoch().count();
    }
    writer.join();
    ASSERT_TRUE(started) << "bob's write never started";
    EXPECT_GT(deactivated_at.load(), write_done_at.load()) << "the deactivation committed while bob's write was open";
    // And after it, bob writes nothing more.
    EXPECT_EQ(transact_as(db(), bob_, [](Tx&) -> Status { return {}; }).error().code, Errc::unauthorized);
}

// An archive that starts while an acquire is inside its transaction (the item read, the
// session not yet written) waits for it, then sees the session and refuses (issue 20). Without
// the acquire's shared lock on the item, PostgreSQL archives the item under the new session.
TEST_P(ActingUserTest, AnArchiveWaitsForAnAcquireInFlightAndRefuses) {
    CreateItemInput in;
    in.part_number = "ARC-1";
    auto item = items_->create(bob_, in);
    ASSERT_TRUE(item.ok()) << item.error().message;
    WorkstationRecord ws{new_uuid(), bob_.user_id, "bob-1", "fp-bob-1", now_millis(), std::nullopt, std::nullopt};
    ASSERT_TRUE(db().transact(TxMode::write, [&](Tx& tx) -> Status {
                        WorkstationRepository::insert(tx, ws);
                        return {};
                    })
                    .ok());
    std::atomic<bool> inside{false};
    std::thread acquire([&] {
        auto st = transact_as(db(), bob_, [&](Tx& tx) -> Status {
            SILO_TRY(auto it, locked_live_item(tx, "ARC-1"));
            inside = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
            SessionRecord s;
            s.id = new_uuid();
            s.item_id = it.id;
            s.part_number = it.part_number;
            s.user_id = bob_.user_id;
            s.username = "bob";
            s.workstation_id = ws.id;
            s.context_level = "sketch";
            s.object_id = "Sketch001";
            s.acquired_at = s.last_heartbeat = now_millis();
            EXPECT_TRUE(SessionRepository::insert(tx, s));
            return {};
        });
        EXPECT_TRUE(st.ok()) << st.error().message;
    });
    for (int i = 0; i < 2500 && !inside; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const bool started = inside;
    Status archived;
    if (started) archived = items_->archive(boss_, "ARC-1");
    acquire.join();
    ASSERT_TRUE(started) << "the acquire never started";
    ASSERT_FALSE(archived.ok()) << "archived under a session in flight";
    EXPECT_EQ(archived.error().code, Errc::conflict);
    EXPECT_EQ(count("SELECT COUNT(*) FROM items WHERE part_number = $1 AND archived_at IS NULL", "ARC-1"), 1);
}

TEST_P(ActingUserTest, APasswordChangeEndsTheOtherBrowserSessions) {
    auto phone = add_browser_session(bob_);
    auto laptop = add_browser_session(bob_);
    auto bosses = add_browser_session(boss_);
    // The operator's reset (or an admin's) ends all of bob's.
    UserPatch pw;
    pw.password = "bob-password-2";
    ASSERT_TRUE(patch("bob", pw).ok());
    EXPECT_EQ(count("SELECT COUNT(*) FROM browser_sessions WHERE user_id = $1", bob_.user_id), 0);
    EXPECT_EQ(count("SELECT COUNT(*) FROM browser_sessions WHERE id = $1", bosses), 1) << "others' stay";
    // A user changing their own password from a browser session keeps that one.
    auto here = add_browser_session(boss_);
    Principal from_browser = boss_;
    from_browser.via_cookie = true;
    from_browser.session_id = here;
    pw.password = "boss-password-2";
    ASSERT_TRUE(patch("boss", pw, from_browser).ok());
    EXPECT_EQ(count("SELECT COUNT(*) FROM browser_sessions WHERE user_id = $1", boss_.user_id), 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM browser_sessions WHERE id = $1", here), 1);
    // A change that is not a password ends nothing.
    auto kept = add_browser_session(bob_);
    UserPatch name;
    name.display_name = "Bob";
    ASSERT_TRUE(patch("bob", name).ok());
    EXPECT_EQ(count("SELECT COUNT(*) FROM browser_sessions WHERE id = $1", kept), 1);
    (void)phone;
    (void)laptop;
}

SILO_INSTANTIATE_DIALECTS(ActingUserTest);

}  // namespace
}  // namespace silo
