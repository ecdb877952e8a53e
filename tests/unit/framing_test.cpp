// Strict request framing (issue 13, RFC 9112): where a head ends, and which heads are refused
// because two parsers could frame them differently.
#include "http/framing.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace silo;
using namespace silo::http;

namespace {

std::string head(const std::string& fields, const std::string& line = "POST /api/items HTTP/1.1") {
    return line + "\r\nHost: x\r\n" + fields + "\r\n";
}

void expect_refused(const std::string& h, const std::string& why) {
    auto st = check_request_head(h);
    ASSERT_FALSE(st.ok()) << "accepted: " << h;
    EXPECT_EQ(st.error().code, Errc::bad_request);
    EXPECT_NE(st.error().message.find(why), std::string::npos) << st.error().message << "\nfor: " << h;
}

}  // namespace

TEST(Framing, FindsTheEndOfTheHead) {
    bool bad = false;
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n", bad), 0u);
    EXPECT_FALSE(bad);
    const std::string h = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(find_head_end(h + "body bytes", bad), h.size());
    EXPECT_FALSE(bad);
    // Empty lines before the request line belong to the head (RFC 9112 §2.2).
    EXPECT_EQ(find_head_end("\r\n\r\n" + h, bad), h.size() + 4);
    EXPECT_FALSE(bad);
    // A bare LF or a NUL stops at once (nothing will make the head valid).
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\nHost: x\n\n", bad), 0u);
    EXPECT_TRUE(bad);
    EXPECT_EQ(find_head_end(std::string("GET / HTTP/1.1\r\nX: a\0", 22), bad), 0u);
    EXPECT_TRUE(bad);
}

TEST(Framing, AcceptsWhatIsUnambiguous) {
    EXPECT_TRUE(check_request_head(head("")).ok());
    EXPECT_TRUE(check_request_head(head("Content-Length: 12\r\n")).ok());
    EXPECT_TRUE(check_request_head(head("Transfer-Encoding: chunked\r\n")).ok());
    EXPECT_TRUE(check_request_head(head("Transfer-Encoding:  Chunked \r\n")).ok()) << "case and OWS";
    EXPECT_TRUE(check_request_head(head("X-Note: caf\xC3\xA9\tok\r\n")).ok()) << "obs-text and HTAB in a value";
    EXPECT_TRUE(check_request_head("\r\n" + head("")).ok()) << "an empty line first";
    EXPECT_TRUE(check_request_head("GET / HTTP/1.0\r\n\r\n").ok()) << "HTTP/1.0 needs no Host";
}

TEST(Framing, RefusesEveryAmbiguousFraming) {
    // Transfer codings: only `chunked`, once, never with Content-Length, never in HTTP/1.0.
    expect_refused(head("Transfer-Encoding: gzip, chunked\r\n"), "other than chunked");
    expect_refused(head("Transfer-Encoding: chunked, gzip\r\n"), "other than chunked");
    expect_refused(head("Transfer-Encoding: xchunked\r\n"), "other than chunked");
    expect_refused(head("Transfer-Encoding: identity\r\n"), "other than chunked");
    expect_refused(head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), "more than once");
    expect_refused(head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), "both");
    expect_refused(head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), "both");
    expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0");
    // Content-Length: once, digits only.
    expect_refused(head("Content-Length: 5\r\nContent-Length: 5\r\n"), "more than once");
    expect_refused(head("Content-Length: 5, 5\r\n"), "not a number");
    expect_refused(head("Content-Length: +5\r\n"), "not a number");
    expect_refused(head("Content-Length: -1\r\n"), "not a number");
    expect_refused(head("Content-Length: 0x10\r\n"), "not a number");
    expect_refused(head("Content-Length: 5 5\r\n"), "not a number");
    expect_refused(head("Content-Length: \r\n"), "not a number");
    expect_refused(head("Content-Length: 99999999999999999999\r\n"), "not a number");
    // Field syntax.
    expect_refused(head("X-A: a\r\n folded\r\n"), "folding");
    expect_refused(head("X-A: a\r\n\tfolded\r\n"), "folding");
    expect_refused(head("Transfer-Encoding : chunked\r\n"), "not a token");
    expect_refused(head("X A: b\r\n"), "not a token");
    expect_refused(head(": b\r\n"), "not a token");
    expect_refused(head("X-A b\r\n"), "without a colon");
    expect_refused(head(std::string("X-A: a\0b\r\n", 10)), "NUL");
    expect_refused(head("X-A: a\rb\r\n"), "bare CR");
    expect_refused(head("X-A: a\x01" "b\r\n"), "control character");
    expect_refused(head("X-A: a\x7f\r\n"), "control character");
    // Host: exactly one in HTTP/1.1.
    expect_refused("GET / HTTP/1.1\r\n\r\n", "without Host");
    expect_refused(head("Host: y\r\n"), "Host more than once");
    // The request line.
    expect_refused(head("", "GET  / HTTP/1.1"), "request line");
    expect_refused(head("", "GET / HTTP/1.1 "), "request line");
    expect_refused(head("", "GET /"), "request line");
    expect_refused(head("", "GET / HTTP/2.0"), "version");
    expect_refused(head("", "GET / http/1.1"), "version");
    expect_refused(head("", "G(T / HTTP/1.1"), "method");
    expect_refused(head("", "GET /a\x7f HTTP/1.1"), "visible ASCII");
    expect_refused(head("", "GET /caf\xC3\xA9 HTTP/1.1"), "visible ASCII");
    expect_refused("GET / HTTP/1.1\r\nHost: x\r\n", "blank line");
}
