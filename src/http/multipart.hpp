// multipart/form-data (RFC 7578) read from a request body that the server already streamed
// to a temporary file (BodyKind::upload). One part may be a file: it is copied to its own
// temporary file chunk by chunk, so memory stays bounded whatever its size. Other parts are
// short text fields. Beast-free; every failure is a 4xx Error and leaves no file behind.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace silo::http {

// A temporary file removed when this goes out of scope, unless release()d.
class TempFile {
public:
    TempFile() = default;
    explicit TempFile(std::string path) : path_(std::move(path)) {}
    ~TempFile();
    TempFile(TempFile&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    TempFile& operator=(TempFile&& o) noexcept;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    const std::string& path() const { return path_; }
    bool empty() const { return path_.empty(); }
    // The file is someone else's now (it was moved into a store).
    void release() { path_.clear(); }

private:
    std::string path_;
};

struct MultipartForm {
    std::map<std::string, std::string> fields;  // text parts by name (the first of repeated names)
    TempFile file;                              // the part named by `file_field`, if sent
    std::string file_name;                      // its filename parameter
    std::int64_t file_size = 0;
};

struct MultipartLimits {
    std::size_t max_field_bytes = 65536;   // per text part
    std::size_t max_header_bytes = 16384;  // per part header block
    std::size_t max_parts = 64;
};

// Parses body_file as multipart/form-data with the boundary of content_type. The part named
// file_field goes to a new temporary file at file_path (the caller picks it on the same
// filesystem as its destination). 415 when content_type is not multipart/form-data; 400 when
// the boundary is missing, the body is malformed or truncated (no closing boundary), a text
// part is too long or breaks the text rule (core/strings.hpp: not UTF-8, a control character;
// also part names and filenames), or file_field is sent twice.
Result<MultipartForm> parse_multipart(const std::string& content_type, const std::string& body_file,
                                      const std::string& file_field, const std::string& file_path,
                                      const MultipartLimits& limits = {});

}  // namespace silo::http
