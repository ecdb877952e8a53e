// From a parsed request head (Beast's header) to the HttpRequest the router and handlers see:
// method, target, lower-case headers (repeated fields joined with ", "), the client's
// X-Request-Id when it is well-formed, and the decoded path and query. One function, used by
// the server's connections and by the request-path fuzz target (tests/fuzz).
#pragma once

#include "core/error.hpp"
#include "http/beast.hpp"
#include "http/types.hpp"

#include <cstddef>

namespace silo::http {

struct HeadLimits {
    std::size_t max_header_fields = 100;
    std::size_t max_request_line = 8192;  // the target's length
};

// headers_too_large (too many fields), uri_too_long, or bad_request (a target that does not
// decode); req's request_id stays unless the client sent a valid one.
Status read_request_head(const boost::beast::http::request_header<>& h, const HeadLimits& limits, HttpRequest& req);

}  // namespace silo::http
