// Row accessors. Both drivers hand over typed values where they know the column type
// (SQLite storage classes, PostgreSQL integer/float/bool OIDs); anything else arrives as text,
// so the numeric accessors also parse text forms.
#include "storage/sql.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace silo::sql {

namespace {

[[noreturn]] void mismatch(size_t i, const char* want) {
    throw DbError(DbError::Kind::other, fmt::format("column {}: not {}", i, want));
}

std::optional<std::int64_t> parse_i64(const std::string& s) {
    std::int64_t v = 0;
    const char* b = s.data();
    const char* e = b + s.size();
    if (b != e && *b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || b == e) return std::nullopt;
    return v;
}

std::optional<double> parse_f64(const std::string& s) {
    if (s.empty()) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || errno == ERANGE) return std::nullopt;
    return v;
}

}  // namespace

bool Row::is_null(size_t i) const { return std::holds_alternative<std::nullptr_t>(cols_.at(i)); }

std::int64_t Row::i64(size_t i) const {
    const Value& v = cols_.at(i);
    if (auto p = std::get_if<std::int64_t>(&v)) return *p;
    if (auto p = std::get_if<std::string>(&v)) {
        if (auto n = parse_i64(*p)) return *n;
        // PostgreSQL renders booleans as t/f when a column is not typed by the driver.
        if (*p == "t") return 1;
        if (*p == "f") return 0;
        mismatch(i, "an integer");
    }
    if (auto p = std::get_if<double>(&v)) {
        // An integral REAL (e.g. SQLite arithmetic on mixed columns) is accepted exactly.
        if (std::isfinite(*p) && std::trunc(*p) == *p && *p >= -9.2233720368547758e18 &&
            *p < 9.2233720368547758e18)
            return static_cast<std::int64_t>(*p);
        mismatch(i, "an integer");
    }
    mismatch(i, "an integer (null)");
}

double Row::f64(size_t i) const {
    const Value& v = cols_.at(i);
    if (auto p = std::get_if<double>(&v)) return *p;
    if (auto p = std::get_if<std::int64_t>(&v)) return static_cast<double>(*p);
    if (auto p = std::get_if<std::string>(&v)) {
        if (auto d = parse_f64(*p)) return *d;
        mismatch(i, "a number");
    }
    mismatch(i, "a number (null)");
}

std::string Row::str(size_t i) const {
    const Value& v = cols_.at(i);
    if (auto p = std::get_if<std::string>(&v)) return *p;
    if (auto p = std::get_if<std::int64_t>(&v)) return std::to_string(*p);
    if (auto p = std::get_if<double>(&v)) return fmt::format("{}", *p);
    mismatch(i, "text (null)");
}

std::optional<std::string> Row::opt_str(size_t i) const {
    if (is_null(i)) return std::nullopt;
    return str(i);
}

std::optional<std::int64_t> Row::opt_i64(size_t i) const {
    if (is_null(i)) return std::nullopt;
    return i64(i);
}

void exec_in_batches(Tx& tx, const std::string& statement_prefix, const Params& leading,
                     const std::vector<std::string>& values, std::size_t batch) {
    for (std::size_t start = 0; start < values.size(); start += batch) {
        std::size_t end = std::min(values.size(), start + batch);
        Params params = leading;
        std::string sql = statement_prefix + " (";
        for (std::size_t i = start; i < end; ++i) {
            params.push_back(values[i]);
            sql += (i == start ? "$" : ", $") + std::to_string(params.size());
        }
        tx.exec(sql + ")", params);
    }
}

}  // namespace silo::sql
