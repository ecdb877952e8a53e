#include "storage/login_failure_repository.hpp"

namespace silo {

std::optional<LoginFailureCount> LoginFailureRepository::find(sql::Tx& tx, const std::string& key) {
    auto r = tx.query_one("SELECT failures, last_failure FROM login_failures WHERE key = $1", {key});
    if (!r) return std::nullopt;
    return LoginFailureCount{static_cast<int>(r->i64(0)), r->i64(1)};
}

void LoginFailureRepository::add_failure(sql::Tx& tx, const std::string& key, Millis now, Millis forget_after) {
    tx.exec("INSERT INTO login_failures (key, failures, last_failure) VALUES ($1, 1, $2) "
            "ON CONFLICT (key) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_failure < $3 THEN 1 ELSE login_failures.failures + 1 END, "
            "last_failure = $2",
            {key, now, now - forget_after});
}

void LoginFailureRepository::forget(sql::Tx& tx, const std::string& key) {
    tx.exec("DELETE FROM login_failures WHERE key = $1", {key});
}

void LoginFailureRepository::prune(sql::Tx& tx, Millis before) {
    tx.exec("DELETE FROM login_failures WHERE last_failure < $1", {before});
}

}  // namespace silo
