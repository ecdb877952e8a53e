// Error and Result<T>: the one error model of silod, shared by every layer.
// Services and repositories return Result<T>; the HTTP layer maps Errc to a status code in one
// place (src/http/error_mapping.cpp). Library exceptions are caught at the storage boundary.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace silo {

enum class Errc {
    bad_request,             // 400
    unauthorized,            // 401
    forbidden,               // 403
    not_found,               // 404
    method_not_allowed,      // 405
    conflict,                // 409
    hard_interference,       // 409
    payload_too_large,       // 413
    uri_too_long,            // 414
    unsupported_media_type,  // 415
    too_many_requests,       // 429
    headers_too_large,       // 431
    module_disabled,         // 404
    read_only,               // 503
    unavailable,             // 503
    insufficient_storage,    // 507: the disk under the file store or the database is full
    internal,                // 500
};

// The wire name of an error code ("bad_request", ...).
const char* errc_name(Errc code);

struct Error {
    Errc code = Errc::internal;
    std::string message;
    nlohmann::json extra = nlohmann::json::object();  // optional extra envelope fields

    Error() = default;
    Error(Errc c, std::string msg, nlohmann::json x = nlohmann::json::object())
        : code(c), message(std::move(msg)), extra(std::move(x)) {}
};

inline Error bad_request(std::string msg) { return {Errc::bad_request, std::move(msg)}; }
inline Error not_found(std::string msg) { return {Errc::not_found, std::move(msg)}; }
inline Error conflict(std::string msg) { return {Errc::conflict, std::move(msg)}; }
inline Error forbidden(std::string msg) { return {Errc::forbidden, std::move(msg)}; }
inline Error internal_error(std::string msg) { return {Errc::internal, std::move(msg)}; }
// A failed write to the file store (err: the errno): insufficient_storage (507) when the disk is
// full (ENOSPC, EDQUOT), unavailable (503) when it is read-only (EROFS), else internal. what says what could not be done ("cannot store the
// upload").
Error file_write_error(int err, const std::string& what);
// Whether errno err means the disk is full (ENOSPC, EDQUOT): the test file_write_error uses.
bool disk_full(int err);

// Result<T>: either a value or an Error. Cheap to move; never throws on access misuse in
// release builds (callers check ok() first).
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T& operator*() & { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : e_(std::move(error)) {}
    bool ok() const { return !e_.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error& error() const& { return *e_; }
    Error&& error() && { return std::move(*e_); }

private:
    std::optional<Error> e_;
};

using Status = Result<void>;

}  // namespace silo

#define SILO_CONCAT_INNER(a, b) a##b
#define SILO_CONCAT(a, b) SILO_CONCAT_INNER(a, b)

// SILO_TRY(auto x, expr): evaluates expr (a Result); returns its error from the enclosing
// function, else binds the value to the declaration.
#define SILO_TRY(decl, expr)                                                        \
    auto SILO_CONCAT(silo_try_, __LINE__) = (expr);                                 \
    if (!SILO_CONCAT(silo_try_, __LINE__).ok())                                     \
        return std::move(SILO_CONCAT(silo_try_, __LINE__)).error();                 \
    decl = std::move(SILO_CONCAT(silo_try_, __LINE__)).value()

// SILO_CHECK(expr): evaluates a Status; returns its error from the enclosing function.
#define SILO_CHECK(expr)                                                            \
    do {                                                                            \
        auto silo_check_status = (expr);                                            \
        if (!silo_check_status.ok()) return std::move(silo_check_status).error();   \
    } while (0)
