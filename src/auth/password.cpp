#include "auth/password.hpp"

#include <sodium.h>

#include <future>
#include <stdexcept>

namespace silo {

PasswordHasher::PasswordHasher() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium initialisation failed");
    thread_ = std::thread([this] { loop(); });
    dummy_hash_ = hash("silod timing equaliser");
}

PasswordHasher::~PasswordHasher() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void PasswordHasher::loop() {
    while (true) {
        std::function<void()> job;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

void PasswordHasher::run_on_thread(std::function<void()> job) {
    std::promise<void> done;
    auto fut = done.get_future();
    {
        std::lock_guard lk(mu_);
        jobs_.push_back([&] {
            try {
                job();
                done.set_value();
            } catch (...) {
                done.set_exception(std::current_exception());
            }
        });
    }
    cv_.notify_one();
    fut.get();
}

std::string PasswordHasher::hash(const std::string& password) {
    std::string out;
    run_on_thread([&] {
        char buf[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(buf, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            throw std::runtime_error("out of memory while hashing a password");
        out = buf;
    });
    return out;
}

bool PasswordHasher::verify(const std::string& stored, const std::string& password) {
    bool real = !stored.empty() && stored.size() < crypto_pwhash_STRBYTES;
    const std::string& h = real ? stored : dummy_hash_;
    bool ok = false;
    run_on_thread([&] {
        ok = crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
    });
    return real && ok;
}

}  // namespace silo
