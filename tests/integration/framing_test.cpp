// Strict HTTP/1.1 framing against the real binary (issue 13, RFC 9112 §6-§7): one raw-socket
// test per class of ambiguous framing. Each sends a request a proxy could frame differently,
// followed by a second request; silod must answer exactly one 400 (with its envelope), close
// the connection, and write nothing. Pipelined well-formed requests are answered in order.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <regex>

using namespace silo::itest;
using namespace std::chrono_literals;

namespace {

// Sends bytes on a fresh connection and reads until the server closes it (at most 5 s).
struct Exchange {
    std::vector<int> statuses;  // every status line answered, in order
    std::string bytes;
    bool closed = false;
};

Exchange exchange(int port, const std::string& bytes) {
    Exchange out;
    int fd = connect_local(port, 5000ms);
    if (fd < 0) throw std::runtime_error("cannot connect");
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    char buf[16384];
    while (std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) {
            out.closed = true;
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) continue;  // receive timeout: keep waiting
            out.closed = errno == ECONNRESET;
            break;
        }
        out.bytes.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    std::regex status_line(R"(HTTP/1\.[01] (\d{3}) )");
    for (std::sregex_iterator it(out.bytes.begin(), out.bytes.end(), status_line), end; it != end; ++it)
        out.statuses.push_back(std::stoi((*it)[1]));
    return out;
}

const std::string kNext = "GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n";  // what a smuggler appends

class Framing : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override {
        SILO_REQUIRE_DATABASE(GetParam());
        ServerOptions o;
        o.db = GetParam();
        server = ServerProcess::start(o);  // auth off: a smuggled request would be served
    }
    void TearDown() override {
        if (server) {
            EXPECT_EQ(server->stop(), 0) << server->log();
        }
    }
    // The bytes, then kNext: one 400 with the envelope, the connection closed, nothing written.
    void expect_one_400(const std::string& what, const std::string& bytes) {
        SCOPED_TRACE(what);
        auto items_before = server->sql("SELECT COUNT(*) FROM items").at(0);
        auto x = exchange(server->port(), bytes + kNext);
        ASSERT_EQ(x.statuses, std::vector<int>{400}) << "answers: " << x.bytes;
        EXPECT_TRUE(x.closed) << "the connection stayed open after a framing error";
        auto body = x.bytes.substr(x.bytes.find("\r\n\r\n") + 4);
        auto j = json::parse(body, nullptr, false);
        EXPECT_TRUE(j.is_object() && j.value("error", "") == "bad_request" && !j.value("message", "").empty())
            << body;
        EXPECT_EQ(server->sql("SELECT COUNT(*) FROM items").at(0), items_before) << "a refused request wrote";
    }
    static std::string post(const std::string& fields, const std::string& body, const std::string& version = "HTTP/1.1") {
        return "POST /api/items " + version + "\r\nHost: x\r\nContent-Type: application/json\r\n" + fields + "\r\n" + body;
    }
    std::unique_ptr<ServerProcess> server;
};

const std::string kItem = R"({"part_number":"SMUGGLED"})";
std::string chunked(const std::string& body) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx", body.size());
    return std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
}

TEST_P(Framing, TransferEncodingWithContentLength) {
    expect_one_400("TE then CL", post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunked(kItem)));
    expect_one_400("CL then TE", post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", chunked(kItem)));
}

TEST_P(Framing, UnknownOrStackedTransferCodings) {
    expect_one_400("gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", chunked(kItem)));
    expect_one_400("chunked, gzip", post("Transfer-Encoding: chunked, gzip\r\n", chunked(kItem)));
    expect_one_400("unknown", post("Transfer-Encoding: xchunked\r\n", chunked(kItem)));
    expect_one_400("identity", post("Transfer-Encoding: identity\r\n", kItem));
    expect_one_400("twice", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked(kItem)));
    expect_one_400("HTTP/1.0", post("Transfer-Encoding: chunked\r\n", chunked(kItem), "HTTP/1.0"));
}

TEST_P(Framing, SeveralOrMalformedContentLengths) {
    const auto n = std::to_string(kItem.size());
    expect_one_400("twice, equal", post("Content-Length: " + n + "\r\nContent-Length: " + n + "\r\n", kItem));
    expect_one_400("twice, different", post("Content-Length: 0\r\nContent-Length: " + n + "\r\n", kItem));
    expect_one_400("a list", post("Content-Length: " + n + ", " + n + "\r\n", kItem));
    expect_one_400("a sign", post("Content-Length: +" + n + "\r\n", kItem));
    expect_one_400("hex", post("Content-Length: 0x1a\r\n", kItem));
    expect_one_400("empty", post("Content-Length: \r\n", kItem));
}

TEST_P(Framing, ObsoleteLineFolding) {
    expect_one_400("a folded field", post("X-Note: a\r\n folded\r\nContent-Length: 0\r\n", ""));
    expect_one_400("a folded Transfer-Encoding", post("Transfer-Encoding:\r\n chunked\r\n", chunked(kItem)));
    expect_one_400("whitespace before the colon", post("Transfer-Encoding : chunked\r\n", chunked(kItem)));
}

TEST_P(Framing, NulAndBareCrOrLfInTheHead) {
    expect_one_400("NUL", std::string("GET /api/items HTTP/1.1\r\nHost: x\r\nX-A: a") + '\0' + "b\r\n\r\n");
    expect_one_400("bare CR", "GET /api/items HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n");
    expect_one_400("bare LF", "GET /api/items HTTP/1.1\nHost: x\n\n");
    expect_one_400("a control character", "GET /api/items HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n");
}

TEST_P(Framing, MalformedRequestLine) {
    expect_one_400("two spaces", "GET  /api/items HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_one_400("no version", "GET /api/items\r\nHost: x\r\n\r\n");
    expect_one_400("HTTP/2.0", "GET /api/items HTTP/2.0\r\nHost: x\r\n\r\n");
    expect_one_400("a space in the target", "GET /api/it ems HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_one_400("no Host", "GET /api/items HTTP/1.1\r\n\r\n");
    expect_one_400("two Hosts", "GET /api/items HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n");
}

TEST_P(Framing, PipelinedRequestsAreAnsweredInOrder) {
    const std::string create = post("Content-Length: " + std::to_string(kItem.size()) + "\r\n", kItem);
    auto chunk = post("Transfer-Encoding: chunked\r\n", chunked(R"({"part_number":"CHUNKED"})"));
    auto x = exchange(server->port(), create + chunk + "GET /api/items/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n" +
                                          "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(x.statuses, (std::vector<int>{201, 201, 200, 200})) << x.bytes;
    EXPECT_TRUE(x.closed);
    // In order: the item created first is the one the third request reads.
    auto third = x.bytes.find("\"part_number\":\"SMUGGLED\"", x.bytes.find("HTTP/1.1 200"));
    EXPECT_NE(third, std::string::npos) << x.bytes;
}

INSTANTIATE_TEST_SUITE_P(Db, Framing, ::testing::Values(Db::sqlite, Db::postgres),
                         [](const auto& info) { return db_name(info.param); });

}  // namespace
