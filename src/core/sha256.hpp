// SHA-256 (OpenSSL) for file hashes, token hashes and the audit chain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace silo {

// Lower-case hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// Incremental hashing for streamed files. Not thread-safe.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, std::size_t n);
    std::string final_hex();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Cryptographically random bytes rendered as lower-case hex (2*bytes characters).
std::string secure_random_hex(std::size_t bytes);

// Constant-time comparison of two strings of equal length (false when lengths differ).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace silo
