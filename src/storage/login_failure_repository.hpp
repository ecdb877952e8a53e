// Failed-login counters of the login throttle (auth/login_throttle.hpp), in the database so that
// every instance on one PostgreSQL counts the same failures (issue 13). A key is a hash the
// throttle makes of what it counts (a username at an address, an address). Stateless; throws
// sql::DbError.
#pragma once

#include "core/clock.hpp"
#include "storage/sql.hpp"

#include <optional>
#include <string>

namespace silo {

struct LoginFailureCount {
    int failures = 0;
    Millis last = 0;  // the latest failure
};

class LoginFailureRepository {
public:
    static std::optional<LoginFailureCount> find(sql::Tx& tx, const std::string& key);
    // One more failure at now, atomically (concurrent failures on several instances all count);
    // a count whose last failure is older than forget_after starts again at 1.
    static void add_failure(sql::Tx& tx, const std::string& key, Millis now, Millis forget_after);
    static void forget(sql::Tx& tx, const std::string& key);
    // Removes counts whose last failure is before `before` (they no longer slow anyone down).
    static void prune(sql::Tx& tx, Millis before);
};

}  // namespace silo
