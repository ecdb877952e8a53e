#include "http/framing.hpp"

#include <string>

namespace silo::http {

namespace {

Error refuse(const std::string& why) { return bad_request("malformed HTTP request: " + why); }

// RFC 9110 §5.6.2 tchar.
bool tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

bool token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!tchar(c)) return false;
    return true;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::size_t skip_empty_lines(std::string_view s) {
    std::size_t start = 0;
    while (s.size() - start >= 2 && s[start] == '\r' && s[start + 1] == '\n') start += 2;
    return start;
}

}  // namespace

std::size_t find_head_end(std::string_view received, bool& bad) {
    bad = false;
    const std::size_t start = skip_empty_lines(received);
    for (std::size_t i = start; i < received.size(); ++i) {
        const char c = received[i];
        if (c == '\0' || (c == '\n' && (i == 0 || received[i - 1] != '\r'))) {
            bad = true;
            return 0;
        }
        if (c == '\n' && i >= start + 3 && received.compare(i - 3, 4, "\r\n\r\n") == 0) return i + 1;
    }
    return 0;
}

Status check_request_head(std::string_view head) {
    head.remove_prefix(skip_empty_lines(head));
    if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) return refuse("the head does not end in a blank line");
    head.remove_suffix(2);  // now every line, the last one included, ends in CRLF

    bool request_line = true;
    bool http10 = false;
    int content_lengths = 0, transfer_encodings = 0, hosts = 0;
    while (!head.empty()) {
        const auto eol = head.find("\r\n");
        const auto line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        for (unsigned char c : line) {
            if (c == '\r') return refuse("a bare CR");
            if (c == '\n') return refuse("a bare LF");
            if (c == 0) return refuse("a NUL byte");
        }
        if (request_line) {
            request_line = false;
            // method SP request-target SP HTTP-version, single spaces.
            const auto sp1 = line.find(' ');
            const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
            if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
                return refuse("the request line must be `method target HTTP/1.1`");
            const auto method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                       version = line.substr(sp2 + 1);
            if (!token(method)) return refuse("the method is not a token");
            if (target.empty()) return refuse("the request target is empty");
            for (unsigned char c : target)
                if (c <= 0x20 || c >= 0x7f) return refuse("the request target holds a byte that is not visible ASCII");
            if (version == "HTTP/1.0") {
                http10 = true;
            } else if (version != "HTTP/1.1") {
                return refuse("the version must be HTTP/1.1 or HTTP/1.0");
            }
            continue;
        }
        if (line.empty()) return refuse("an empty header line");
        if (line.front() == ' ' || line.front() == '\t') return refuse("obsolete line folding in a header field");
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return refuse("a header line without a colon");
        const auto name = line.substr(0, colon);
        if (!token(name)) return refuse("a header field name that is not a token (whitespace before the colon?)");
        const auto value = trim_ows(line.substr(colon + 1));
        for (unsigned char c : value)
            if ((c < 0x20 && c != '\t') || c == 0x7f) return refuse("a control character in the field " + std::string(name));
        if (iequals(name, "content-length")) {
            if (++content_lengths > 1) return refuse("Content-Length more than once");
            if (value.empty() || value.size() > 19) return refuse("a Content-Length that is not a number");
            for (char c : value)
                if (c < '0' || c > '9') return refuse("a Content-Length that is not a number");
        } else if (iequals(name, "transfer-encoding")) {
            if (++transfer_encodings > 1) return refuse("Transfer-Encoding more than once");
            if (!iequals(value, "chunked"))
                return refuse("Transfer-Encoding other than chunked (silod decodes no other coding)");
        } else if (iequals(name, "host")) {
            ++hosts;
        }
    }
    if (transfer_encodings && content_lengths) return refuse("both Transfer-Encoding and Content-Length");
    if (transfer_encodings && http10) return refuse("Transfer-Encoding in an HTTP/1.0 request");
    if (hosts > 1) return refuse("Host more than once");
    if (hosts == 0 && !http10) return refuse("an HTTP/1.1 request without Host");
    return {};
}

}  // namespace silo::http
