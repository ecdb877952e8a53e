// A holder's client paused (SIGSTOP) while its session is ended (issue 13, faults): the holder
// is a process of its own that owns its workstation's event stream and uploads its work every
// 50 ms, as an autosaving workstation would. While it is stopped, its session ends either by an
// admin's force-release or because its network went away (the stream is cut; the grace runs
// out and the sweeper releases it as `disconnected`). Once resumed, the holder cannot upload
// work for, push a checkpoint into or release the old session (404 each, with the envelope), the
// lock is free for others, and the work it had uploaded is kept as a checkpoint (pinned when an
// admin force-released it, with the usual TTL when the sweeper released it). Also
// an upload that loses a race with the end of its session (WorkRace, below).
#include "session_fixture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <atomic>
#include <thread>

using namespace silo::itest;

namespace {

enum class Ending { force_release, network_drop };

// The holder's process: uploads "work-<i>" every 50 ms (at most 2,000 times) until the server
// refuses one, then pushes a checkpoint naming the session and releases it; every answer is a
// line on report_fd. Never returns.
[[noreturn]] void run_holder(int port, const std::string& token, const std::string& pn, const std::string& sid,
                             int report_fd) {
    try {
        HttpClient c = as(port, token);
        const std::string base = "/api/items/" + pn + "/edit-sessions/" + sid;
        for (int i = 1; i <= 2000; ++i) {
            auto r = c.request("PUT", base + "/work", "work-" + std::to_string(i),
                               {{"Content-Type", "application/octet-stream"}});
            dprintf(report_fd, "work %d %d\n", i, r.status);
            if (r.status != 200) break;
            ::usleep(50 * 1000);
        }
        auto cp = c.request("POST", "/api/items/" + pn + "/checkpoints",
                            multipart({{"file", "late work", "late.FCStd"},
                                       {"context", "manual", ""},
                                       {"base_revision", "0", ""},
                                       {"session_id", sid, ""}}),
                            multipart_headers());
        dprintf(report_fd, "checkpoint %d\n", cp.status);
        auto rel = c.request("DELETE", base, "");
        dprintf(report_fd, "release %d\n", rel.status);
    } catch (const std::exception& e) {
        dprintf(report_fd, "error %s\n", e.what());
    }
    ::_exit(0);
}

// Reads the lines the holder wrote so far, waiting at most `wait` for the first.
std::vector<std::string> read_lines(int fd, std::string& partial, std::chrono::milliseconds wait) {
    std::vector<std::string> lines;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return lines;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        partial.append(buf, static_cast<std::size_t>(n));
    }
    for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1))
        lines.push_back(partial.substr(0, nl));
    return lines;
}

class PausedHolder : public SessionTest {
protected:
    void TearDown() override {
        if (holder > 0) {  // a failed assertion left it running or stopped
            ::kill(holder, SIGKILL);
            ::waitpid(holder, nullptr, 0);
        }
        if (report[0] >= 0) ::close(report[0]);
        SessionTest::TearDown();
    }

    void run(Ending ending) {
        boot();
        auto alice = make_user("alice", "editor");
        auto bob = make_user("bob", "editor");
        auto a1 = register_ws(alice, "alice-1");
        auto b1 = register_ws(bob, "bob-1");
        make_item("PAUSE-1");
        auto& watcher = open("admin watching PAUSE-1", admin_token, "?watch=PAUSE-1");
        const std::string sid = str(acquire_ok(alice, "PAUSE-1", a1, "sketch", "Sketch001"), "id");
        ASSERT_TRUE(watcher.wait_for("edit.session_acquired", sid)) << watcher.all();

        // The holder's stream, opened here and inherited by the holder's process (this process
        // keeps a descriptor of the same socket, to cut the network later).
        stream = std::make_unique<SseClient>(port(), "/api/events?workstation_id=" + a1,
                                             std::map<std::string, std::string>{{"Authorization", "Bearer " + alice}});
        ASSERT_EQ(stream->status(), 200) << stream->error_body();
        ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
        holder = ::fork();
        ASSERT_GE(holder, 0);
        if (holder == 0) {
            ::close(report[0]);
            run_holder(port(), alice, "PAUSE-1", sid, report[1]);
        }
        ::close(report[1]);
        report[1] = -1;
        ::fcntl(report[0], F_SETFL, O_NONBLOCK);

        // Let it autosave a few times, then stop it.
        std::string partial;
        int acked = 0;
        // Every line so far must be an acknowledged upload; acked is the last one.
        auto take_acks = [&](std::chrono::milliseconds wait) {
            for (const auto& line : read_lines(report[0], partial, wait)) {
                int n = 0, status = 0;
                ASSERT_EQ(std::sscanf(line.c_str(), "work %d %d", &n, &status), 2) << line;
                ASSERT_EQ(status, 200) << line;
                acked = n;
            }
        };
        for (int i = 0; i < 100 && acked < 3 && !HasFatalFailure(); ++i) take_acks(100ms);
        ASSERT_GE(acked, 3) << "the holder did not upload its work";
        ASSERT_EQ(::kill(holder, SIGSTOP), 0);
        int wstatus = 0;
        ASSERT_EQ(::waitpid(holder, &wstatus, WUNTRACED), holder);
        ASSERT_TRUE(WIFSTOPPED(wstatus));
        take_acks(0ms);
        ASSERT_FALSE(HasFatalFailure());

        // Its session ends while it is stopped.
        std::string reason;
        if (ending == Ending::force_release) {
            auto fr = admin().request("DELETE", "/api/items/PAUSE-1/edit-sessions/" + sid + "/force-release",
                                      R"({"reason":"alice is away; bob needs Sketch001"})",
                                      {{"Content-Type", "application/json"}});
            ASSERT_EQ(fr.status, 200) << fr.body;
            reason = "force_released";
        } else {
            ASSERT_EQ(::shutdown(stream->fd(), SHUT_RDWR), 0);  // the network is gone
            reason = "disconnected";
        }
        auto released = watcher.wait_for("edit.session_released", sid, std::chrono::seconds(kGraceSeconds + kSweepSeconds + 10));
        ASSERT_TRUE(released) << watcher.all();
        EXPECT_EQ(str(released->js(), "reason"), reason) << released->raw;

        // The work it had uploaded is kept: a checkpoint holding the last upload the
        // server acknowledged (the one the holder reported, or one more that was in flight
        // when it stopped).
        auto list = as(port(), alice).get("/api/items/PAUSE-1/checkpoints?user=alice");
        ASSERT_EQ(list.status, 200) << list.body;
        ASSERT_EQ(list.js().size(), 1u) << list.body;
        auto cp = list.js()[0];
        EXPECT_EQ(str(cp, "context"), ending == Ending::force_release ? "force_release" : "disconnected") << cp.dump();
        EXPECT_EQ(cp.value("pinned", false), ending == Ending::force_release) << cp.dump();
        EXPECT_EQ(cp["expires_at"].is_null(), ending == Ending::force_release) << cp.dump();
        auto bytes = as(port(), alice).get("/api/items/PAUSE-1/checkpoints/" + str(cp, "id") + "/file");
        ASSERT_EQ(bytes.status, 200);
        EXPECT_TRUE(bytes.body == "work-" + std::to_string(acked) || bytes.body == "work-" + std::to_string(acked + 1))
            << bytes.body << " (last acknowledged: work-" << acked << ")";

        // The lock is free: bob takes the same context.
        const std::string bob_sid = str(acquire_ok(bob, "PAUSE-1", b1, "sketch", "Sketch001"), "id");

        // Resumed, the holder meets an ended session everywhere.
        ASSERT_EQ(::kill(holder, SIGCONT), 0);
        std::vector<std::string> after;
        for (int i = 0; i < 100 && (after.empty() || after.back().rfind("release", 0) != 0) &&
                        (after.empty() || after.back().rfind("error", 0) != 0);
             ++i)
            for (auto& line : read_lines(report[0], partial, 100ms)) after.push_back(line);
        ASSERT_EQ(::waitpid(holder, &wstatus, 0), holder);
        holder = -1;
        std::string all;
        for (const auto& l : after) all += l + "\n";
        ASSERT_GE(after.size(), 3u) << all;
        EXPECT_NE(after[after.size() - 3].find(" 404"), std::string::npos) << "the late upload: " << all;
        EXPECT_EQ(after[after.size() - 2], "checkpoint 404") << all;
        EXPECT_EQ(after[after.size() - 1], "release 404") << all;
        // Nothing of that changed anything: bob still holds it, alice's checkpoint is the one kept.
        auto sessions = list_item(admin_token, "PAUSE-1");
        ASSERT_EQ(sessions.size(), 1u) << sessions.dump();
        EXPECT_EQ(str(sessions[0], "id"), bob_sid);
        EXPECT_EQ(as(port(), alice).get("/api/items/PAUSE-1/checkpoints?user=alice").js().size(), 1u);
    }

    pid_t holder = -1;
    std::unique_ptr<SseClient> stream;
    int report[2] = {-1, -1};
};

TEST_P(PausedHolder, ForceReleasedWhileStopped) { run(Ending::force_release); }
TEST_P(PausedHolder, NetworkGoneWhileStopped) { run(Ending::network_drop); }

INSTANTIATE_TEST_SUITE_P(Db, PausedHolder, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace

namespace {

// A work upload racing the end of its session (PostgreSQL, where they can interleave): the
// session's row is deleted by a transaction held open here while the upload reads it; when
// that transaction commits, the upload must answer 404, never 200 for work no session keeps.
class WorkRace : public SessionTest {};

TEST_P(WorkRace, AnUploadThatLosesToTheEndOfItsSessionIsRefused) {
    if (GetParam() != Db::postgres) GTEST_SKIP() << "SQLite runs one writer at a time: no interleaving";
    boot();
    auto alice = make_user("alice", "editor");
    auto a1 = register_ws(alice, "alice-1");
    make_item("RACE-1");
    const std::string sid = str(acquire_ok(alice, "RACE-1", a1, "sketch", "Sketch001"), "id");
    pqxx::connection c(server->pg_url());
    pqxx::work ender(c);
    ender.exec0("DELETE FROM edit_sessions WHERE id = " + ender.quote(sid));
    std::atomic<int> status{0};
    std::thread upload([&] {
        status = as(port(), alice)
                     .request("PUT", "/api/items/RACE-1/edit-sessions/" + sid + "/work", "work-1",
                              {{"Content-Type", "application/octet-stream"}})
                     .status;
    });
    // The upload reads the row (not yet deleted for it) and waits for the row lock.
    bool waiting = false;
    for (int i = 0; i < 500 && !waiting; ++i) {
        waiting = count("SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE NOT l.granted AND a.query LIKE 'UPDATE edit_sessions SET work_path%'") > 0;
        if (!waiting) std::this_thread::sleep_for(20ms);
    }
    ender.commit();
    EXPECT_TRUE(waiting) << "the upload never waited for the deleted row: the race was not run";
    upload.join();
    EXPECT_EQ(status.load(), 404);
    EXPECT_EQ(count("SELECT COUNT(*) FROM edit_sessions"), 0);
}

INSTANTIATE_TEST_SUITE_P(Db, WorkRace, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
