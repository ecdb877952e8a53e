#include "auth/login_throttle.hpp"

#include <algorithm>

namespace silo {

std::optional<Millis> LoginThrottle::wait_for(std::map<std::string, Entry>& m, const std::string& key, int free,
                                              Millis now) {
    auto it = m.find(key);
    if (it == m.end()) return std::nullopt;
    if (now - it->second.last > policy_.forget_after) {
        m.erase(it);
        return std::nullopt;
    }
    int over = it->second.failures - free;
    if (over < 0) return std::nullopt;
    Millis delay = policy_.base_delay << std::min(over, 20);
    delay = std::min(delay, policy_.max_delay);
    Millis until = it->second.last + delay;
    if (until <= now) return std::nullopt;
    return until - now;
}

void LoginThrottle::bump(std::map<std::string, Entry>& m, const std::string& key, Millis now) {
    auto& e = m[key];
    if (now - e.last > policy_.forget_after) e.failures = 0;
    ++e.failures;
    e.last = now;
    if (m.size() > 100000) m.clear();  // bounded memory under a spray of names
}

std::optional<Millis> LoginThrottle::retry_after(const std::string& username_key, const std::string& address,
                                                 Millis now) {
    std::lock_guard lk(mu_);
    auto a = wait_for(users_, pair_key(username_key, address), policy_.user_free_failures, now);
    auto b = wait_for(addresses_, address, policy_.address_free_failures, now);
    if (a && b) return std::max(*a, *b);
    return a ? a : b;
}

void LoginThrottle::record_failure(const std::string& username_key, const std::string& address, Millis now) {
    std::lock_guard lk(mu_);
    bump(users_, pair_key(username_key, address), now);
    bump(addresses_, address, now);
}

void LoginThrottle::record_success(const std::string& username_key, const std::string& address) {
    std::lock_guard lk(mu_);
    users_.erase(pair_key(username_key, address));
}

}  // namespace silo
