// Connection limits and timeouts (issue 13), each a configuration key, against the real binary:
// a trickled header is closed by server.header_timeout_seconds, an idle keep-alive connection
// by server.keepalive_timeout_seconds, a stalled body by server.body_idle_timeout_seconds (a slow
// but steady one passes); past server.max_connections a new connection gets 503 while event
// streams stay; more than server.max_header_fields answers 431; an event stream whose socket
// takes nothing for events.stall_timeout_seconds is dropped, and its client loses nothing when
// it reconnects with its last id. Every wait is bounded.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <thread>

using namespace silo::itest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Whether the server closes fd within timeout (reading and dropping what it sends).
bool closed_within(int fd, std::chrono::milliseconds timeout) { return drain_until_closed(fd, timeout).closed; }

bool send_bytes(int fd, const std::string& s) { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }

class Limits : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override { SILO_REQUIRE_DATABASE(GetParam()); }
    void TearDown() override {
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }
    // Starts silod (auth off) with these settings, as SILO_<SECTION>_<KEY> variables.
    void boot(std::map<std::string, std::string> env) {
        ServerOptions o;
        o.db = GetParam();
        o.env = std::move(env);
        server = ServerProcess::start(o);
    }
    int port() const { return server->port(); }
    std::unique_ptr<ServerProcess> server;
};

TEST_P(Limits, ATrickledHeaderIsClosedByTheHeaderTimeout) {
    boot({{"SILO_SERVER_HEADER_TIMEOUT_SECONDS", "2"}, {"SILO_SERVER_KEEPALIVE_TIMEOUT_SECONDS", "30"}});
    Fd c{connect_local(port(), 5000ms)};
    ASSERT_GE(c.fd, 0);
    // One byte every 200 ms: each read is "progress", but the whole head never comes in time.
    const std::string head = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(60, 'a') + "\r\n\r\n";
    bool closed = false;
    auto start = Clock::now();
    for (std::size_t i = 0; i < head.size() && !closed; ++i) {
        if (!send_bytes(c.fd, head.substr(i, 1))) break;
        closed = closed_within(c.fd, 200ms);
    }
    if (!closed) closed = closed_within(c.fd, 5s);
    EXPECT_TRUE(closed) << "a trickled head kept the connection";
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(head.size() / 5)) << "closed only after the whole head came";
    // A connection that sends nothing is governed by the keep-alive timeout (30 s): still open.
    Fd idle{connect_local(port(), 5000ms)};
    EXPECT_FALSE(closed_within(idle.fd, 3s)) << "an idle connection closed by the header timeout";
}

TEST_P(Limits, AnIdleKeepAliveConnectionIsClosed) {
    boot({{"SILO_SERVER_KEEPALIVE_TIMEOUT_SECONDS", "2"}});
    Fd c{connect_local(port(), 5000ms)};
    ASSERT_TRUE(send_bytes(c.fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string buf;
    auto r = read_response(c.fd, buf);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(closed_within(c.fd, 8s)) << "kept alive past keepalive_timeout_seconds";
}

TEST_P(Limits, AStalledBodyIsDroppedAndASteadySlowOnePasses) {
    boot({{"SILO_SERVER_BODY_IDLE_TIMEOUT_SECONDS", "2"}});
    const std::string body = R"({"part_number":"SLOW-1","description":")" + std::string(40, 'x') + "\"}";
    const std::string head = "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n";
    {
        Fd c{connect_local(port(), 5000ms)};
        ASSERT_TRUE(send_bytes(c.fd, head + body.substr(0, 10)));
        EXPECT_TRUE(closed_within(c.fd, 8s)) << "a body that stopped arriving kept its connection";
        EXPECT_EQ(server->sql("SELECT COUNT(*) FROM items").at(0), "0");
    }
    // The same body, a byte every 100 ms (longer in all than the idle timeout): accepted.
    Fd c{connect_local(port(), 15000ms)};
    ASSERT_TRUE(send_bytes(c.fd, head));
    for (char ch : body) {
        ASSERT_TRUE(send_bytes(c.fd, std::string(1, ch)));
        std::this_thread::sleep_for(100ms);
    }
    std::string buf;
    auto r = read_response(c.fd, buf);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
}

TEST_P(Limits, PastMaxConnectionsANewConnectionGets503AndStreamsStay) {
    boot({{"SILO_SERVER_MAX_CONNECTIONS", "4"}});
    // Two event streams first: they do not count.
    SseClient s1(port(), "/api/events"), s2(port(), "/api/events");
    ASSERT_EQ(s1.status(), 200);
    ASSERT_EQ(s2.status(), 200);
    // Four request connections, each proven accepted by a request.
    std::vector<std::unique_ptr<HttpClient>> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(std::make_unique<HttpClient>(port()));
        ASSERT_EQ(held.back()->get("/health").status, 200);
    }
    auto refused = raw_request(port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(refused.status, 503) << refused.body;
    check_error_envelope("GET", "/health", refused);
    check_security_headers("GET", "/health", refused);
    // An event stream's header carries them too.
    for (const auto& [name, value] : std::map<std::string, std::string>{
             {"x-content-type-options", "nosniff"}, {"x-frame-options", "DENY"}, {"referrer-policy", "no-referrer"}})
        EXPECT_EQ(s1.header(name), value) << name;
    EXPECT_EQ(refused.header("connection"), "close");
    // The streams are untouched, and the held connections still serve.
    ASSERT_EQ(held[0]->post_json("/api/items", {{"part_number", "MC-1"}}).status, 201);
    for (auto* s : {&s1, &s2}) {
        auto e = s->next(5s);
        ASSERT_TRUE(e) << "a stream was closed";
        EXPECT_EQ(e->event, "item.created");
    }
    // Once one closes, a new connection is served (bounded wait for the close to count).
    held.pop_back();
    int status = 0;
    for (auto deadline = Clock::now() + 5s; status != 200 && Clock::now() < deadline; std::this_thread::sleep_for(50ms))
        status = raw_request(port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status;
    EXPECT_EQ(status, 200);
}

TEST_P(Limits, TooManyHeaderFieldsAnswer431) {
    boot({{"SILO_SERVER_MAX_HEADER_FIELDS", "10"}});
    auto with = [&](int n) {
        std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n";
        for (int i = 1; i < n; ++i) req += "X-F" + std::to_string(i) + ": v\r\n";
        return raw_request(port(), req + "\r\n");
    };
    EXPECT_EQ(with(10).status, 200);
    auto many = with(11);
    EXPECT_EQ(many.status, 431) << many.body;
    check_error_envelope("GET", "/health", many);
}

// The stream's queue is far larger than what the kernel holds, so only the stall timeout can
// drop it; the client then reconnects from the last complete frame it has and misses nothing.
TEST_P(Limits, AStalledStreamIsDroppedAndItsClientLosesNothing) {
    boot({{"SILO_EVENTS_STALL_TIMEOUT_SECONDS", "2"}, {"SILO_EVENTS_QUEUE_LIMIT", "1000000"}});
    int fd = open_stalled_stream(port(), "/api/events", {}, 4096);
    ASSERT_GE(fd, 0);
    Fd guard{fd};
    HttpClient c(port());
    // Enough frames to fill the server's send buffer and the client's receive buffer.
    std::size_t wmem_max = 4u << 20;
    {
        std::istringstream in(read_file("/proc/sys/net/ipv4/tcp_wmem"));
        std::size_t lo = 0, def = 0, hi = 0;
        if (in >> lo >> def >> hi && hi > 0) wmem_max = hi;
    }
    const std::string desc(3900, 'd');
    const std::size_t n = 2 * (wmem_max + 8192) / (desc.size() + 200) + 50;
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(c.post_json("/api/items", {{"part_number", "ST-" + std::to_string(i)}, {"description", desc}}).status, 201);
    // Dropped by the stall timeout (bounded wait; not a speed requirement).
    auto stream_count = [&] { return c.get("/ready").js().value("event_streams", -1); };
    int streams = stream_count();
    for (auto deadline = Clock::now() + 30s; streams != 0 && Clock::now() < deadline; std::this_thread::sleep_for(100ms))
        streams = stream_count();
    EXPECT_EQ(streams, 0) << "the stalled stream was not dropped";
    // What the client got before the drop, up to its last complete frame.
    auto got = drain_until_closed(fd, 30s, 256u << 20, true);
    EXPECT_TRUE(got.closed);
    // Complete frames end in a blank line; the last one may have been cut by the drop.
    std::int64_t last = 0;
    auto body_start = got.data.find("\r\n\r\n");
    ASSERT_NE(body_start, std::string::npos) << "no response head";
    std::string_view rest(got.data);
    rest.remove_prefix(body_start + 4);
    for (auto end = rest.find("\n\n"); end != std::string_view::npos; end = rest.find("\n\n")) {
        auto frame = rest.substr(0, end);
        if (frame.rfind("id: ", 0) == 0) last = std::stoll(std::string(frame.substr(4, frame.find('\n') - 4)));
        rest.remove_prefix(end + 2);
    }
    ASSERT_GT(last, 0) << "no complete frame before the drop";
    const auto head = std::stoll(server->sql("SELECT last_id FROM event_head WHERE id = 1").at(0));
    ASSERT_LT(last, head) << "the stream was not behind when it was dropped";
    // Reconnecting with that id: every later event, in order, once.
    SseClient back(port(), "/api/events", {{"Last-Event-ID", std::to_string(last)}});
    ASSERT_EQ(back.status(), 200);
    std::int64_t expect = last + 1;
    while (expect <= head) {
        auto e = back.next(10s);
        ASSERT_TRUE(e) << "missing event " << expect;
        ASSERT_EQ(e->id.value_or(-1), expect);
        ++expect;
    }
}

INSTANTIATE_TEST_SUITE_P(Db, Limits, ::testing::Values(Db::sqlite, Db::postgres),
                         [](const auto& info) { return db_name(info.param); });

}  // namespace
