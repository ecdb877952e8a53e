// Database faults (issue 13), against two real silod instances on a PostgreSQL cluster of this
// test's own (scripts/pg-test-cluster.sh; the shared test cluster is never stopped):
// PostgreSQL stopped as a crash would (pg_ctl -m immediate) and started again under load, and
// every backend killed mid-transaction (pg_terminate_backend). During the outage every request
// gets an answer, 201 or the 503 `unavailable` envelope (never a dropped connection, a hang or
// a 500); once PostgreSQL is back both instances serve again; every acknowledged item is
// stored; the streams of both instances, reconnecting with their last id, see every event once
// and in order; the audit chain verifies.
#include "harness.hpp"
#include "support/test_paths.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

using namespace silo::itest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A PostgreSQL cluster of this test's own, stopped (by PID) and removed at the end.
class OwnCluster {
public:
    OwnCluster() : parent_(make_temp_dir("pgf")), dir_(parent_ + "/pg") {
        // mkdtemp made it 0700: the postgres user must reach the cluster inside it.
        std::filesystem::permissions(parent_, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                  std::filesystem::perms::others_exec);
        run("start");
        // From the file the script writes, not from its output: su may add a warning there (the
        // postgres user cannot enter the working directory of a checkout under a private /tmp
        // folder), which would end up inside the URL.
        url_ = trim(read_file(dir_ + "/url"));
    }
    ~OwnCluster() {
        run("stop");
        std::error_code ec;
        std::filesystem::remove_all(parent_, ec);
    }
    const std::string& url() const { return url_; }
    void crash() { run("crash"); }
    void resume() { run("resume"); }

private:
    std::string run(const std::string& cmd) {
        std::string line = "bash '" + silo::test::source_dir() + "/scripts/pg-test-cluster.sh' " + cmd + " '" + dir_ + "' 2>&1";
        std::string out;
        if (FILE* p = ::popen(line.c_str(), "r")) {
            char buf[512];
            while (std::fgets(buf, sizeof buf, p)) out += buf;
            if (::pclose(p) != 0 && cmd != "stop") throw std::runtime_error("pg-test-cluster " + cmd + ": " + out);
        }
        return out;
    }
    static std::string trim(std::string s) {
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s;
    }
    std::string parent_, dir_, url_;
};

// Follows /api/events on one instance, reconnecting with its last id whenever the stream ends,
// and keeps the id of every item.created it sees.
class Follower {
public:
    explicit Follower(int port) : port_(port), thread_([this] { run(); }) {}
    ~Follower() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::vector<std::int64_t> ids() {
        std::lock_guard lk(mu_);
        return ids_;
    }
    int reconnects() const { return reconnects_; }

private:
    void run() {
        std::int64_t last = 0;  // from the start of the log
        while (!stop_) {
            std::map<std::string, std::string> headers{{"Last-Event-ID", std::to_string(last)}};
            SseClient s(port_, "/api/events", headers, 3s);
            if (s.status() != 200) {
                std::this_thread::sleep_for(100ms);
                continue;
            }
            while (!stop_) {
                auto e = s.next(200ms);
                if (!e) {
                    if (s.eof()) break;
                    continue;
                }
                if (e->id) last = *e->id;
                if (e->event == "item.created" && e->id) {
                    std::lock_guard lk(mu_);
                    ids_.push_back(*e->id);
                }
            }
            ++reconnects_;
            std::this_thread::sleep_for(100ms);  // as a client backs off before reconnecting
        }
    }
    int port_;
    std::atomic<bool> stop_{false};
    std::atomic<int> reconnects_{0};
    std::mutex mu_;
    std::vector<std::int64_t> ids_;
    std::thread thread_;
};

// Creates items through two instances until stopped; every answer is 201 or a 503 envelope.
class Load {
public:
    Load(int a, int b) : thread_([this, a, b] { run(a, b); }) {}
    ~Load() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::vector<std::string> created() {
        std::lock_guard lk(mu_);
        return created_;
    }
    int unavailable() const { return unavailable_; }
    std::vector<std::string> problems() {
        std::lock_guard lk(mu_);
        return problems_;
    }

private:
    void run(int a, int b) {
        for (int i = 0; !stop_; ++i) {
            const std::string pn = "PF-" + std::to_string(i);
            try {
                HttpClient c(i % 2 ? b : a, 15s);
                auto r = c.post_json("/api/items", {{"part_number", pn}});
                std::lock_guard lk(mu_);
                if (r.status == 201) {
                    created_.push_back(pn);
                } else if (r.status == 503 && r.js().value("error", "") == "unavailable") {
                    ++unavailable_;
                } else if (r.status == 409 && r.js().value("error", "") == "conflict") {
                    // An earlier attempt's commit raced the outage: the item exists; fine.
                } else {
                    problems_.push_back(pn + ": " + std::to_string(r.status) + " " + r.body);
                }
            } catch (const std::exception& e) {
                std::lock_guard lk(mu_);
                problems_.push_back(pn + ": " + e.what());
            }
            std::this_thread::sleep_for(20ms);
        }
    }
    std::atomic<bool> stop_{false};
    std::atomic<int> unavailable_{0};
    std::mutex mu_;
    std::vector<std::string> created_, problems_;
    std::thread thread_;
};

// How long until GET /api/items answers 200 on port (bounded); -1 when it never did.
double seconds_until_serving(int port, std::chrono::seconds bound) {
    auto start = Clock::now();
    while (Clock::now() - start < bound) {
        try {
            if (HttpClient(port, 2s).get("/api/items?limit=1").status == 200)
                return std::chrono::duration<double>(Clock::now() - start).count();
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(50ms);
    }
    return -1;
}

TEST(Faults, PostgresCrashAndKilledBackendsLoseNothing) {
    OwnCluster pg;
    ServerOptions o;
    o.db = Db::postgres;
    o.pg_url = pg.url();
    auto a = ServerProcess::start(o);
    auto b = ServerProcess::start(o);
    {
        Follower fa(a->port()), fb(b->port());
        Load load(a->port(), b->port());
        std::this_thread::sleep_for(1500ms);

        // 1. PostgreSQL crashes; requests meanwhile get 503; it comes back.
        pg.crash();
        std::this_thread::sleep_for(2s);
        for (auto* s : {a.get(), b.get()}) {
            auto r = HttpClient(s->port(), 15s).get("/api/items");
            EXPECT_EQ(r.status, 503) << "during the outage: " << r.body;
            EXPECT_EQ(r.js().value("error", ""), "unavailable") << r.body;
            auto ready = HttpClient(s->port(), 15s).get("/ready");
            EXPECT_EQ(ready.status, 503) << ready.body;
        }
        pg.resume();
        const double back_a = seconds_until_serving(a->port(), 30s), back_b = seconds_until_serving(b->port(), 30s);
        EXPECT_GE(back_a, 0) << "instance A never served again";
        EXPECT_GE(back_b, 0) << "instance B never served again";
        std::cout << "[ figures ] serving again after PostgreSQL came back: A " << back_a << " s, B " << back_b << " s\n";
        std::this_thread::sleep_for(1500ms);

        // 2. Every backend of silod killed mid-transaction.
        int killed = 0;
        for (const auto& n : a->sql("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                                    "datname = current_database() AND pid <> pg_backend_pid() AND backend_type = "
                                    "'client backend'"))
            killed = std::stoi(n);
        EXPECT_GT(killed, 0);
        std::this_thread::sleep_for(1500ms);
        load.stop();

        for (const auto& p : load.problems()) ADD_FAILURE() << "an answer that is neither 201 nor a 503 envelope: " << p;
        EXPECT_GT(load.unavailable(), 0) << "the outage was never seen";
        const auto created = load.created();
        ASSERT_GT(created.size(), 20u);
        std::cout << "[ figures ] " << created.size() << " items created, " << load.unavailable()
                  << " requests answered 503 during the faults, " << killed << " backends killed\n";

        // Every acknowledged item is stored.
        auto stored_rows = a->sql("SELECT part_number FROM items");
        std::set<std::string> stored(stored_rows.begin(), stored_rows.end());
        for (const auto& pn : created) EXPECT_TRUE(stored.count(pn)) << pn << " was acknowledged and lost";

        // Both instances' streams, reconnecting with their last id, saw every event once, in order.
        auto rows = a->sql("SELECT id FROM events WHERE type = 'item.created' ORDER BY id");
        std::vector<std::int64_t> expected;
        for (const auto& r : rows) expected.push_back(std::stoll(r));
        ASSERT_FALSE(expected.empty());
        for (auto* f : {&fa, &fb}) {
            for (auto deadline = Clock::now() + 30s; Clock::now() < deadline; std::this_thread::sleep_for(100ms))
                if (f->ids().size() >= expected.size()) break;
            f->stop();
            EXPECT_EQ(f->ids(), expected) << (f == &fa ? "A" : "B") << " (" << f->reconnects() << " reconnects)";
        }
    }
    auto v = HttpClient(a->port()).get("/api/audit/verify");
    EXPECT_EQ(v.status, 200) << v.body;
    EXPECT_EQ(v.js().value("ok", false), true) << v.body;
    EXPECT_EQ(a->stop(), 0) << a->log();
    EXPECT_EQ(b->stop(), 0) << b->log();
}

}  // namespace
