// The login throttle's rules with a fake clock: per username and address first, so failures
// never lock a name out for every address (issue 20), and many names from one address slow
// that address down.
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

}  // namespace

TEST(LoginThrottle, FailuresForANameSlowOnlyTheAddressTheyCameFrom) {
    LoginThrottle t(policy());
    Millis now = 1'000'000;
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(t.retry_after("root", "10.0.0.66", now)) << i;
        t.record_failure("root", "10.0.0.66", now);
    }
    auto wait = t.retry_after("root", "10.0.0.66", now);
    ASSERT_TRUE(wait);
    EXPECT_EQ(*wait, 1000);
    // root's own address is not locked out by the attacker's failures.
    EXPECT_FALSE(t.retry_after("root", "10.0.0.5", now));
    // Nor is another name from the attacker's address (below the address's own threshold).
    EXPECT_FALSE(t.retry_after("una", "10.0.0.66", now));
    // The delay doubles with each further failure, up to the cap.
    now += 1000;
    t.record_failure("root", "10.0.0.66", now);
    EXPECT_EQ(t.retry_after("root", "10.0.0.66", now).value_or(0), 2000);
    for (int i = 0; i < 10; ++i) t.record_failure("root", "10.0.0.66", now);
    EXPECT_EQ(t.retry_after("root", "10.0.0.66", now).value_or(0), 8000);
    // A quiet spell forgets it.
    EXPECT_FALSE(t.retry_after("root", "10.0.0.66", now + 60001));
}

TEST(LoginThrottle, ManyNamesFromOneAddressSlowThatAddress) {
    LoginThrottle t(policy());
    Millis now = 5'000'000;
    for (int i = 0; i < 10; ++i) t.record_failure("user" + std::to_string(i), "10.0.0.66", now);
    EXPECT_TRUE(t.retry_after("someone-new", "10.0.0.66", now));
    EXPECT_FALSE(t.retry_after("someone-new", "10.0.0.7", now));
}

TEST(LoginThrottle, ASuccessForgetsThatNamesFailuresFromThatAddress) {
    LoginThrottle t(policy());
    Millis now = 9'000'000;
    for (int i = 0; i < 2; ++i) t.record_failure("root", "10.0.0.5", now);
    for (int i = 0; i < 3; ++i) t.record_failure("root", "10.0.0.66", now);
    t.record_success("root", "10.0.0.5");
    t.record_failure("root", "10.0.0.5", now);
    EXPECT_FALSE(t.retry_after("root", "10.0.0.5", now)) << "counting starts again after a success";
    EXPECT_TRUE(t.retry_after("root", "10.0.0.66", now)) << "another address's failures stay";
}
