// Slows down password guessing: after a few failures for one username from one address (or
// many from one address, whatever the names) further attempts from that address are refused
// for an interval that doubles with each failure (capped), until a success or 15 quiet
// minutes. In memory, per process. Thread-safe.
//
// Per address first (issue 20): failures never lock a name out everywhere, so nobody can keep
// `admin` from logging in by failing on purpose; an address without failures always gets its
// try (each costing one Argon2id verification). A guesser spread over many addresses is slowed
// per address only; the operator command line (`silod user set-password`) needs no login.
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
        int user_free_failures = 5;  // per username and address
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
    // Forgets the failures of this username from this address.
    void record_success(const std::string& username_key, const std::string& address);

private:
    struct Entry {
        int failures = 0;
        Millis last = 0;
    };
    std::optional<Millis> wait_for(std::map<std::string, Entry>& m, const std::string& key, int free, Millis now);
    void bump(std::map<std::string, Entry>& m, const std::string& key, Millis now);

    Policy policy_;
    std::mutex mu_;
    static std::string pair_key(const std::string& username_key, const std::string& address) {
        return username_key + '\n' + address;
    }
    std::map<std::string, Entry> users_;  // by pair_key
    std::map<std::string, Entry> addresses_;
};

}  // namespace silo
