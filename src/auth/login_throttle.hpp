// Slows down password guessing: after a few failures for one username (or many from one
// address) further attempts are refused for an interval that doubles with each failure
// (capped), until a success or 15 quiet minutes. In memory, per process. Thread-safe.
#pragma once

#include "core/clock.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace silo {

class LoginThrottle {
public:
    struct Policy {
        int user_free_failures = 5;
        int address_free_failures = 20;
        Millis base_delay = 1000;
        Millis max_delay = 5 * 60 * 1000;
        Millis forget_after = 15 * 60 * 1000;
    };
    LoginThrottle() = default;
    explicit LoginThrottle(Policy p) : policy_(p) {}

    // Milliseconds the caller must wait before trying this username from this address, or
    // nullopt when an attempt is allowed now.
    std::optional<Millis> retry_after(const std::string& username_key, const std::string& address, Millis now);
    void record_failure(const std::string& username_key, const std::string& address, Millis now);
    void record_success(const std::string& username_key);

private:
    struct Entry {
        int failures = 0;
        Millis last = 0;
    };
    std::optional<Millis> wait_for(std::map<std::string, Entry>& m, const std::string& key, int free, Millis now);
    void bump(std::map<std::string, Entry>& m, const std::string& key, Millis now);

    Policy policy_;
    std::mutex mu_;
    std::map<std::string, Entry> users_;
    std::map<std::string, Entry> addresses_;
};

}  // namespace silo
