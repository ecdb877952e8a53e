// Strict HTTP/1.1 request framing (RFC 9112 §2-§7), checked on the raw bytes of a request
// head before anything else reads them. Beast-free and pure, so that it is unit-tested and
// fuzzed on its own (tests/unit/framing_test.cpp, tools/fuzz).
//
// Why: a proxy in front of silod and silod must agree where one request ends. Any head that
// two parsers could read differently is refused with 400 (and the server closes the
// connection), never guessed at:
// - the request line is exactly `method SP request-target SP HTTP/1.0|HTTP/1.1 CRLF`;
// - every line ends in CRLF (no bare LF, no bare CR), no NUL, no other control character
//   than HTAB inside a field value, no obsolete line folding (a line that starts with SP or
//   HTAB), no whitespace between a field name and its colon, field names are tokens;
// - a body is framed by one Content-Length of digits only, or by Transfer-Encoding with
//   exactly `chunked` (silod decodes no other coding): several or malformed Content-Length
//   values, unknown or stacked transfer codings, Transfer-Encoding twice, Transfer-Encoding
//   together with Content-Length, or Transfer-Encoding in an HTTP/1.0 request are all 400;
// - HTTP/1.1 requests carry exactly one Host (RFC 9112 §3.2).
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <string_view>

namespace silo::http {

// Where a request head ends in the bytes received so far: the length of the head up to and
// including its blank line, or 0 when it is not complete yet. The head may be preceded by
// empty lines (CRLF), which are part of it. `bad` is set when the bytes already cannot start
// a valid head (a NUL, a bare LF): the caller stops reading and answers 400.
std::size_t find_head_end(std::string_view received, bool& bad);

// Checks a complete head (as found by find_head_end). bad_request naming the problem; on
// success the head can be handed to the HTTP parser.
Status check_request_head(std::string_view head);

}  // namespace silo::http
