#include "storage/event_listener.hpp"

#include "core/log.hpp"
#include "storage/event_repository.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <thread>

namespace silo {

namespace {

class Receiver final : public pqxx::notification_receiver {
public:
    Receiver(pqxx::connection_base& c, const std::function<void()>& fn)
        : pqxx::notification_receiver(c, kEventChannel), fn_(fn) {}
    void operator()(const std::string&, int) override { fn_(); }

private:
    const std::function<void()>& fn_;
};

class PgEventListener final : public EventListener {
public:
    PgEventListener(std::string url, std::function<void()> on_event)
        : url_(std::move(url)), on_event_(std::move(on_event)), thread_([this] { run(); }) {}

    ~PgEventListener() override {
        stop_ = true;
        thread_.join();
    }

    bool listening() const override { return listening_; }

private:
    void run() {
        while (!stop_) {
            try {
                pqxx::connection conn(url_);
                Receiver receiver(conn, on_event_);
                listening_ = true;
                on_event_();  // catch up with whatever was committed while not listening
                while (!stop_) conn.await_notification(0, 200000);
            } catch (const std::exception& e) {
                listening_ = false;
                if (stop_) break;
                log::warn("event listener lost its PostgreSQL connection; reconnecting", {{"what", e.what()}});
                for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
    }

    std::string url_;
    std::function<void()> on_event_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> listening_{false};
    std::thread thread_;
};

}  // namespace

std::unique_ptr<EventListener> start_event_listener(const sql::DatabaseOptions& options,
                                                    std::function<void()> on_event) {
    if (options.dialect != sql::Dialect::postgres) return nullptr;
    return std::make_unique<PgEventListener>(options.postgres_url, std::move(on_event));
}

}  // namespace silo
