// Abuse (issue 13, faults): 1,000 connections that trickle their header a byte a second, and
// 2,000 event-stream reconnects with a Last-Event-ID far in the past (each replays the whole
// log), while a normal client works. Checked: every normal request is answered 200; every
// trickling connection is closed by server.header_timeout_seconds (2 s here); the server holds
// no client socket afterwards, and no more other files than its database pool may open. The normal client's p99 and the server's memory before and
// after are recorded as test properties (--gtest_output=json) for docs/reliability.md; they are
// figures, not assertions.
#include "session_fixture.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

using namespace silo::itest;

namespace {

constexpr int kTricklers = 1000;
constexpr int kReconnects = 2000;

// A number from /proc/<pid>/status ("VmRSS", in KiB; "Threads").
long proc_status(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
}

// Opens /api/events with an old Last-Event-ID, reads the head and the first frame of the
// replay, and closes. Returns the status (0: no answer, or no replayed frame).
int reconnect_from_the_past(int port, const std::string& token, const std::string& ws) {
    SseClient c(port, "/api/events?workstation_id=" + ws, {{"Authorization", "Bearer " + token}, {"Last-Event-ID", "1"}},
                std::chrono::seconds(10));
    if (c.status() != 200) return c.status();
    auto first = c.next(std::chrono::seconds(10));
    return first && first->has_id_line ? 200 : 0;
}

class Abuse : public SessionTest {};

TEST_P(Abuse, TricklersAndOldCursorsLeaveNormalClientsServedAndNothingBehind) {
    boot({{"SILO_SERVER_HEADER_TIMEOUT_SECONDS", "2"}});
    auto alice = make_user("alice", "editor");
    auto ws = register_ws(alice, "alice-1");
    for (int i = 0; i < 50; ++i) make_item("AB-" + std::to_string(i));  // a log to replay
    const pid_t pid = server->pid();
    // Warm up first: the database pool opens its connections (files) under load and keeps them.
    {
        std::vector<std::thread> warm;
        for (int t = 0; t < 16; ++t)
            warm.emplace_back([&] {
                HttpClient c = as(port(), alice);
                for (int i = 0; i < 50; ++i) EXPECT_EQ(c.get("/api/items?limit=5").status, 200);
            });
        for (auto& t : warm) t.join();
    }
    std::this_thread::sleep_for(500ms);
    const int files_before = count_fds(pid);
    const long rss_before = proc_status(pid, "VmRSS");

    // The tricklers: each has sent "G" and then one more byte a second. This process needs a
    // descriptor for each, beside its own.
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::vector<int> slow;
    struct Closer {  // also when an assertion stops the test early
        std::vector<int>& fds;
        ~Closer() {
            for (int fd : fds) ::close(fd);
        }
    } closer{slow};
    for (int i = 0; i < kTricklers; ++i) {
        int fd = connect_local(port(), std::chrono::milliseconds(5000));
        ASSERT_GE(fd, 0) << "connection " << i;
        ASSERT_EQ(::send(fd, "G", 1, MSG_NOSIGNAL), 1);
        slow.push_back(fd);
    }
    std::atomic<int> closed{0};
    std::thread trickle([&] {
        const std::string rest = "ET /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        std::vector<bool> gone(slow.size(), false);
        for (std::size_t step = 0; step < 30 && closed < kTricklers; ++step) {
            for (std::size_t i = 0; i < slow.size(); ++i) {
                if (gone[i]) continue;
                char c = rest[std::min(step, rest.size() - 1)];
                pollfd p{slow[i], POLLIN, 0};
                bool eof = false;
                if (::poll(&p, 1, 0) > 0) {
                    char buf[512];
                    ssize_t n;
                    while ((n = ::recv(slow[i], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
                    }
                    eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
                }
                if (eof || ::send(slow[i], &c, 1, MSG_NOSIGNAL) != 1) {
                    gone[i] = true;
                    ++closed;
                }
            }
            std::this_thread::sleep_for(1s);
        }
    });

    // The old cursors, 8 at a time.
    std::atomic<int> replayed{0}, next{0};
    std::vector<std::thread> reconnectors;
    for (int t = 0; t < 8; ++t)
        reconnectors.emplace_back([&] {
            while (next++ < kReconnects)
                if (reconnect_from_the_past(port(), alice, ws) == 200) ++replayed;
        });

    // A normal client meanwhile.
    std::vector<double> ms;
    auto normal = std::make_unique<HttpClient>(as(port(), alice));
    int bad = 0;
    while (next < kReconnects || ms.size() < 50) {
        auto t0 = Clock::now();
        auto r = normal->get("/api/items?limit=5");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (r.status != 200) ++bad;
        if (ms.size() >= 20000) break;
        std::this_thread::sleep_for(5ms);
    }
    for (auto& t : reconnectors) t.join();
    trickle.join();
    for (int fd : slow) ::close(fd);
    slow.clear();
    normal.reset();

    EXPECT_EQ(bad, 0) << "normal requests not answered 200";
    EXPECT_EQ(replayed.load(), kReconnects) << "every reconnect from the past got its replay";
    EXPECT_EQ(closed.load(), kTricklers) << "tricklers the header limit did not close within 30 s";
    // The server lets go of every client socket (bounded wait). Other files may grow only as
    // the database pool does: one connection per thread at most (SQLite: the file and its WAL;
    // PostgreSQL: a socket), whatever the load was.
    const int files_bound = files_before + 2 * static_cast<int>(proc_status(pid, "Threads"));
    int files_after = count_fds(pid), connections = count_connections(pid, port());
    for (int i = 0; i < 100 && connections > 0; ++i) {
        std::this_thread::sleep_for(100ms);
        files_after = count_fds(pid);
        connections = count_connections(pid, port());
    }
    EXPECT_EQ(connections, 0) << "client connections the server still holds";
    EXPECT_LE(files_after, files_bound) << "open files: " << files_before << " before, " << files_after << " after";
    EXPECT_EQ(HttpClient(port()).get("/health").status, 200);

    std::sort(ms.begin(), ms.end());
    RecordProperty("normal_requests", static_cast<int>(ms.size()));
    RecordProperty("normal_p50_us", static_cast<int>(ms[ms.size() / 2] * 1000));
    RecordProperty("normal_p99_us", static_cast<int>(ms[ms.size() * 99 / 100] * 1000));
    RecordProperty("rss_before_kib", static_cast<int>(rss_before));
    RecordProperty("rss_after_kib", static_cast<int>(proc_status(pid, "VmRSS")));
    RecordProperty("files_before", files_before);
    RecordProperty("files_after", files_after);
}

INSTANTIATE_TEST_SUITE_P(Db, Abuse, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
