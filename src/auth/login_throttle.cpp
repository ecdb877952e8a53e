#include "auth/login_throttle.hpp"

#include "core/sha256.hpp"

#include <algorithm>

namespace silo {

std::string LoginThrottle::user_key(const std::string& username_key, const std::string& address) {
    // Length-prefixed: no name and address pair reads as another.
    return "u:" + sha256_hex(std::to_string(username_key.size()) + ':' + username_key + address);
}

std::string LoginThrottle::address_key(const std::string& address) { return "a:" + sha256_hex(address); }

std::optional<Millis> LoginThrottle::wait_for(const std::optional<LoginFailureCount>& c, int free, Millis now) const {
    if (!c || now - c->last > policy_.forget_after) return std::nullopt;
    int over = c->failures - free;
    if (over < 0) return std::nullopt;
    Millis delay = std::min(policy_.base_delay << std::min(over, 20), policy_.max_delay);
    Millis until = c->last + delay;
    if (until <= now) return std::nullopt;
    return until - now;
}

std::optional<Millis> LoginThrottle::retry_after(const std::optional<LoginFailureCount>& user,
                                                 const std::optional<LoginFailureCount>& address, Millis now) const {
    auto a = wait_for(user, policy_.user_free_failures, now);
    auto b = wait_for(address, policy_.address_free_failures, now);
    if (a && b) return std::max(*a, *b);
    return a ? a : b;
}

}  // namespace silo
