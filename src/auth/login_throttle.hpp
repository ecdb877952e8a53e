// Slows down password guessing: after a few failures for one username from one address (or
// many from one address, whatever the names) further attempts from that address are refused
// for an interval that doubles with each failure (capped), until a success or 15 quiet
// minutes. The counts live in the database (storage/login_failure_repository.hpp), so every
// instance on one PostgreSQL counts the same failures (issue 13); this class holds the rules
// only and is immutable.
//
// Per address first (issue 20): failures never lock a name out everywhere, so nobody can keep
// `admin` from logging in by failing on purpose; an address without failures always gets its
// try (each costing one Argon2id verification). A guesser spread over many addresses is slowed
// per address only; the operator command line (`silod user set-password`) needs no login.
#pragma once

#include "core/clock.hpp"
#include "storage/login_failure_repository.hpp"

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
    const Policy& policy() const { return policy_; }

    // The two counts a login attempt is judged by, as repository keys (fixed-length hashes, so
    // a long username costs no more room than a short one).
    static std::string user_key(const std::string& username_key, const std::string& address);
    static std::string address_key(const std::string& address);

    // Milliseconds the caller must wait before trying again, given the counts under user_key and
    // address_key, or nullopt when an attempt is allowed now.
    std::optional<Millis> retry_after(const std::optional<LoginFailureCount>& user,
                                      const std::optional<LoginFailureCount>& address, Millis now) const;

private:
    std::optional<Millis> wait_for(const std::optional<LoginFailureCount>& c, int free, Millis now) const;

    Policy policy_;
};

}  // namespace silo
