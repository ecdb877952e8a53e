// Argon2id password hashing (libsodium) on a dedicated thread: at ~64 MiB and ~100 ms per
// hash, one thread bounds both memory and CPU, and no I/O or worker thread computes a hash
// itself (callers on the worker pool wait for the result).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace silo {

class PasswordHasher {
public:
    PasswordHasher();
    ~PasswordHasher();
    PasswordHasher(const PasswordHasher&) = delete;
    PasswordHasher& operator=(const PasswordHasher&) = delete;

    // The Argon2id string for password (blocks the caller until the hashing thread is done).
    std::string hash(const std::string& password);
    // True when password matches the stored string. An empty or malformed stored string never
    // matches, but costs the same time as a real check (no user enumeration by timing).
    bool verify(const std::string& stored, const std::string& password);

private:
    void run_on_thread(std::function<void()> job);
    void loop();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stop_ = false;
    std::string dummy_hash_;
    std::thread thread_;
};

}  // namespace silo
