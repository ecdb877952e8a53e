// Contract tests of LoginFailureRepository on both dialects: the login throttle's counts, which
// every instance on one database shares (issue 13). Concurrent failures all count.
#include "storage/login_failure_repository.hpp"

#include "support/test_db.hpp"

#include <thread>
#include <vector>

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;

class LoginFailureRepositoryTest : public test::DialectTest {
  protected:
    static constexpr Millis kForget = 60000;

    void add(const std::string& key, Millis now) {
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            LoginFailureRepository::add_failure(tx, key, now, kForget);
            return {};
        });
        ASSERT_TRUE(st.ok()) << st.error().message;
    }
    std::optional<LoginFailureCount> find(const std::string& key) {
        std::optional<LoginFailureCount> out;
        auto st = db().transact(TxMode::read, [&](Tx& tx) -> Status {
            out = LoginFailureRepository::find(tx, key);
            return {};
        });
        EXPECT_TRUE(st.ok()) << st.error().message;
        return out;
    }
    void write(const std::function<void(Tx&)>& fn) {
        auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
            fn(tx);
            return {};
        });
        ASSERT_TRUE(st.ok()) << st.error().message;
    }
};

TEST_P(LoginFailureRepositoryTest, CountsFailuresAndRemembersTheLast) {
    EXPECT_FALSE(find("k"));
    add("k", 1000);
    add("k", 1500);
    add("k", 2000);
    auto c = find("k");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->failures, 3);
    EXPECT_EQ(c->last, 2000);
    EXPECT_FALSE(find("other"));
}

TEST_P(LoginFailureRepositoryTest, AFailureAfterAQuietSpellStartsAgainAtOne) {
    add("k", 1000);
    add("k", 1000);
    add("k", 1000 + kForget);  // exactly the limit: still counted
    EXPECT_EQ(find("k")->failures, 3);
    add("k", 1000 + 2 * kForget + 1);
    EXPECT_EQ(find("k")->failures, 1);
}

TEST_P(LoginFailureRepositoryTest, ForgetAndPrune) {
    add("a", 1000);
    add("b", 5000);
    add("c", 9000);
    write([](Tx& tx) { LoginFailureRepository::forget(tx, "c"); });
    EXPECT_FALSE(find("c"));
    write([](Tx& tx) { LoginFailureRepository::prune(tx, 5000); });
    EXPECT_FALSE(find("a"));
    EXPECT_TRUE(find("b")) << "a failure at the cutoff is kept";
}

TEST_P(LoginFailureRepositoryTest, ConcurrentFailuresAllCount) {
    constexpr int kThreads = 4, kEach = 10;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) add("k", 1000 + i);
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(find("k")->failures, kThreads * kEach);
}

SILO_INSTANTIATE_DIALECTS(LoginFailureRepositoryTest);

}  // namespace
}  // namespace silo
