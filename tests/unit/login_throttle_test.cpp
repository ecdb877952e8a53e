// The login throttle's rules, with counts as the repository keeps them and a fake clock: per
// username and address first, so failures never lock a name out for every address (issue 20),
// and many names from one address slow that address down. The counts' own storage (atomic
// increments, shared by instances) is tested in tests/unit/storage/login_failure_repository_test.
#include "auth/login_throttle.hpp"

#include <gtest/gtest.h>

using namespace silo;

namespace {

LoginThrottle::Policy policy() {
    LoginThrottle::Policy p;
    p.user_free_failures = 3;
    p.address_free_failures = 10;
    p.base_delay = 1000;
    p.max_delay = 8000;
    p.forget_after = 60000;
    return p;
}

std::optional<LoginFailureCount> count(int failures, Millis last) { return LoginFailureCount{failures, last}; }

}  // namespace

TEST(LoginThrottle, NoFailuresOrFewFailuresAllowAnAttempt) {
    LoginThrottle t(policy());
    EXPECT_FALSE(t.retry_after(std::nullopt, std::nullopt, 1'000'000));
    EXPECT_FALSE(t.retry_after(count(2, 1'000'000), count(9, 1'000'000), 1'000'000));
}

TEST(LoginThrottle, TheDelayDoublesPastTheFreeFailuresUpToTheCap) {
    LoginThrottle t(policy());
    const Millis now = 1'000'000;
    EXPECT_EQ(t.retry_after(count(3, now), std::nullopt, now).value_or(0), 1000);
    EXPECT_EQ(t.retry_after(count(4, now), std::nullopt, now).value_or(0), 2000);
    EXPECT_EQ(t.retry_after(count(5, now), std::nullopt, now).value_or(0), 4000);
    EXPECT_EQ(t.retry_after(count(14, now), std::nullopt, now).value_or(0), 8000);
    EXPECT_EQ(t.retry_after(count(1000, now), std::nullopt, now).value_or(0), 8000) << "no overflow";
    // The wait counts from the last failure.
    EXPECT_EQ(t.retry_after(count(4, now), std::nullopt, now + 1500).value_or(0), 500);
    EXPECT_FALSE(t.retry_after(count(4, now), std::nullopt, now + 2000));
}

TEST(LoginThrottle, ManyFailuresFromOneAddressSlowThatAddress) {
    LoginThrottle t(policy());
    const Millis now = 5'000'000;
    EXPECT_EQ(t.retry_after(std::nullopt, count(10, now), now).value_or(0), 1000);
    EXPECT_EQ(t.retry_after(count(4, now), count(10, now), now).value_or(0), 2000) << "the longer wait wins";
}

TEST(LoginThrottle, AQuietSpellForgets) {
    LoginThrottle t(policy());
    const Millis then = 9'000'000;
    EXPECT_FALSE(t.retry_after(count(14, then), count(50, then), then + 60001));
}

TEST(LoginThrottle, KeysSeparateNamesAddressesAndKindsAndHaveAFixedLength) {
    const auto a = LoginThrottle::user_key("root", "10.0.0.66");
    EXPECT_NE(a, LoginThrottle::user_key("root", "10.0.0.5")) << "root's own address is not the attacker's";
    EXPECT_NE(a, LoginThrottle::user_key("una", "10.0.0.66"));
    EXPECT_NE(LoginThrottle::user_key("a\nb", "c"), LoginThrottle::user_key("a", "b\nc"));
    EXPECT_NE(LoginThrottle::address_key("10.0.0.66"), LoginThrottle::user_key("", "10.0.0.66"));
    EXPECT_EQ(a.size(), LoginThrottle::user_key(std::string(100000, 'x'), "10.0.0.66").size());
}
