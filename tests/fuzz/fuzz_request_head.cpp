// Request heads (issue 13): the strict framing check (http/framing.hpp) on any bytes, and a
// differential check against Beast's parser: a head silod accepts must parse in Beast, with
// the same body framing (Content-Length or chunked).
#include "http/beast.hpp"
#include "http/framing.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    bool bad = false;
    const std::size_t end = silo::http::find_head_end(bytes, bad);
    if (bad && end != 0) __builtin_trap();  // a bad head has no end
    if (end == 0) return 0;
    const auto head = bytes.substr(0, end);
    if (!silo::http::check_request_head(head).ok()) return 0;

    // Accepted: Beast must read the same head, with the same framing.
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(1u << 20);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // as the server (limits per route)
    parser.eager(false);
    boost::beast::error_code ec;
    auto start = head.find_first_not_of("\r\n");
    auto used = parser.put(boost::asio::buffer(head.data() + start, head.size() - start), ec);
    if (ec || !parser.is_header_done() || used != head.size() - start) __builtin_trap();
    const auto& h = parser.get();
    const bool has_length = h.find(bhttp::field::content_length) != h.end();
    const bool has_te = h.find(bhttp::field::transfer_encoding) != h.end();
    if (has_te != parser.chunked()) __builtin_trap();                           // TE means chunked, only
    if (has_length && (has_te || !parser.content_length())) __builtin_trap();  // one framing, a number
    return 0;
}
