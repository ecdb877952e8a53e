#include "http/multipart.hpp"

#include "core/strings.hpp"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

namespace silo::http {

namespace {

constexpr std::size_t kChunk = 1 << 16;

Error malformed(const std::string& why) { return bad_request("malformed multipart body: " + why); }

// The value of parameter `name` in a header value such as `form-data; name="file"; filename="a.FCStd"`.
std::optional<std::string> header_param(const std::string& value, const std::string& name) {
    std::size_t pos = 0;
    while (pos < value.size()) {
        auto semi = value.find(';', pos);
        if (semi == std::string::npos) return std::nullopt;
        pos = semi + 1;
        while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\t')) ++pos;
        auto eq = value.find('=', pos);
        if (eq == std::string::npos) return std::nullopt;
        auto key = to_lower(trim(value.substr(pos, eq - pos)));
        pos = eq + 1;
        std::string v;
        if (pos < value.size() && value[pos] == '"') {
            ++pos;
            while (pos < value.size() && value[pos] != '"') {
                if (value[pos] == '\\' && pos + 1 < value.size()) ++pos;
                v += value[pos++];
            }
            if (pos >= value.size()) return std::nullopt;  // unterminated quote
            ++pos;
        } else {
            auto end = value.find(';', pos);
            v = trim(value.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
            pos = end == std::string::npos ? value.size() : end;
        }
        if (key == name) return v;
    }
    return std::nullopt;
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Reads the body file through a window: `buf` holds unread bytes.
class Reader {
public:
    explicit Reader(std::FILE* f) : f_(f) {}
    // Makes at least n bytes available when the file has them; false at end of file.
    bool fill(std::size_t n) {
        while (buf.size() < n) {
            char tmp[kChunk];
            auto got = std::fread(tmp, 1, sizeof tmp, f_);
            if (got == 0) return false;
            buf.append(tmp, got);
        }
        return true;
    }
    bool more() {
        char tmp[kChunk];
        auto got = std::fread(tmp, 1, sizeof tmp, f_);
        if (got == 0) return false;
        buf.append(tmp, got);
        return true;
    }
    std::string buf;

private:
    std::FILE* f_;
};

}  // namespace

TempFile::~TempFile() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

TempFile& TempFile::operator=(TempFile&& o) noexcept {
    if (this != &o) {
        TempFile drop(std::move(path_));
        path_ = std::move(o.path_);
        o.path_.clear();
    }
    return *this;
}

Result<MultipartForm> parse_multipart(const std::string& content_type, const std::string& body_file,
                                      const std::string& file_field, const std::string& file_path,
                                      const MultipartLimits& limits) {
    auto semi = content_type.find(';');
    if (to_lower(trim(content_type.substr(0, semi))) != "multipart/form-data")
        return Error(Errc::unsupported_media_type, "the body must be multipart/form-data");
    auto boundary = header_param(content_type, "boundary");
    if (!boundary || boundary->empty() || boundary->size() > 200)
        return bad_request("multipart/form-data needs a boundary parameter of 1 to 200 characters");

    File in(std::fopen(body_file.c_str(), "rb"));
    if (!in) return malformed("the body is empty");
    Reader r(in.get());
    MultipartForm form;
    const std::string first = "--" + *boundary;
    const std::string delim = "\r\n--" + *boundary;

    // Preamble (ignored), then the first boundary line.
    for (;;) {
        auto at = r.buf.find(first);
        if (at != std::string::npos && (at == 0 || (at >= 2 && r.buf.compare(at - 2, 2, "\r\n") == 0))) {
            r.buf.erase(0, at + first.size());
            break;
        }
        if (r.buf.size() > kChunk) r.buf.erase(0, r.buf.size() - first.size());
        if (!r.more()) return malformed("no opening boundary (truncated body?)");
    }

    for (std::size_t parts = 0;; ++parts) {
        // After a boundary: "--" ends the body, CRLF starts a part.
        if (!r.fill(2)) return malformed("truncated after a boundary");
        if (r.buf.compare(0, 2, "--") == 0) break;
        // Transport padding (spaces/tabs) may precede the CRLF.
        std::size_t i = 0;
        while (true) {
            if (!r.fill(i + 2)) return malformed("truncated after a boundary");
            if (r.buf[i] == ' ' || r.buf[i] == '\t') { ++i; continue; }
            break;
        }
        if (r.buf.compare(i, 2, "\r\n") != 0) return malformed("a boundary must end its line");
        r.buf.erase(0, i + 2);
        if (parts >= limits.max_parts) return bad_request("the multipart body has too many parts");

        // Part headers up to the blank line.
        if (!r.fill(2)) return malformed("truncated in a part's headers");
        std::size_t end = 0;  // 0: no headers at all (the blank line comes first)
        if (r.buf.compare(0, 2, "\r\n") != 0) {
            while ((end = r.buf.find("\r\n\r\n")) == std::string::npos) {
                if (r.buf.size() > limits.max_header_bytes) return bad_request("a multipart part's headers are too large");
                if (!r.more()) return malformed("truncated in a part's headers");
            }
        }
        if (end > limits.max_header_bytes) return bad_request("a multipart part's headers are too large");
        std::string headers = end == 0 ? std::string() : r.buf.substr(0, end);
        r.buf.erase(0, end == 0 ? 2 : end + 4);
        std::optional<std::string> name, filename;
        std::size_t pos = 0;
        while (pos < headers.size()) {
            auto eol = headers.find("\r\n", pos);
            auto line = headers.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
            pos = eol == std::string::npos ? headers.size() : eol + 2;
            auto colon = line.find(':');
            if (colon == std::string::npos) return malformed("a part header has no ':'");
            if (to_lower(trim(line.substr(0, colon))) != "content-disposition") continue;
            std::string value(trim(line.substr(colon + 1)));
            if (to_lower(trim(value.substr(0, value.find(';')))) != "form-data")
                return malformed("a part's Content-Disposition must be form-data");
            name = header_param(value, "name");
            filename = header_param(value, "filename");
        }
        if (!name) return malformed("a part has no Content-Disposition name");
        if (auto problem = text_problem(*name)) return bad_request("a multipart part name " + *problem);
        if (filename)
            if (auto problem = text_problem(*filename)) return bad_request("a multipart filename " + *problem);

        // The part body, up to the next delimiter.
        const bool is_file = *name == file_field;
        if (is_file && !form.file.empty()) return bad_request("the multipart field '" + file_field + "' is sent twice");
        File out;
        if (is_file) {
            form.file = TempFile(file_path);
            out.reset(std::fopen(file_path.c_str(), "wb"));
            if (!out) return file_write_error(errno, "cannot store the upload");
            if (filename) form.file_name = *filename;
        }
        std::string value;
        auto emit = [&](std::size_t n) -> Status {
            if (is_file) {
                if (n > 0 && std::fwrite(r.buf.data(), 1, n, out.get()) != n)
                    return file_write_error(errno, "cannot store the upload");
                form.file_size += static_cast<std::int64_t>(n);
            } else {
                if (value.size() + n > limits.max_field_bytes)
                    return bad_request("the multipart field '" + *name + "' is too long");
                value.append(r.buf, 0, n);
            }
            r.buf.erase(0, n);
            return {};
        };
        for (;;) {
            // The body may start right at a delimiter without its CRLF only if the part is
            // empty; RFC 2046 puts the CRLF before the delimiter, so search for it.
            auto at = r.buf.find(delim);
            if (at != std::string::npos) {
                SILO_CHECK(emit(at));
                r.buf.erase(0, delim.size());
                break;
            }
            // Keep a tail that might be the start of the delimiter.
            if (r.buf.size() > delim.size()) SILO_CHECK(emit(r.buf.size() - delim.size()));
            if (!r.more()) return malformed("truncated: no closing boundary");
        }
        if (is_file) {
            if (std::fflush(out.get()) != 0) return file_write_error(errno, "cannot store the upload");
        } else {
            if (auto problem = text_problem(value))
                return bad_request("the multipart field '" + *name + "' " + *problem);
            form.fields.emplace(*name, std::move(value));
        }
    }
    return form;
}

}  // namespace silo::http
