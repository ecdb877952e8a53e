#include "core/error.hpp"

#include <cerrno>

namespace silo {

bool disk_full(int err) { return err == ENOSPC || err == EDQUOT; }

Error file_write_error(int err, const std::string& what) {
    if (disk_full(err))
        return {Errc::insufficient_storage, what + ": the disk is full; nothing was stored"};
    if (err == EROFS) return {Errc::unavailable, what + ": the file store is read-only for now"};
    return internal_error(what);
}

const char* errc_name(Errc code) {
    switch (code) {
        case Errc::bad_request: return "bad_request";
        case Errc::unauthorized: return "unauthorized";
        case Errc::forbidden: return "forbidden";
        case Errc::not_found: return "not_found";
        case Errc::method_not_allowed: return "method_not_allowed";
        case Errc::conflict: return "conflict";
        case Errc::hard_interference: return "hard_interference";
        case Errc::payload_too_large: return "payload_too_large";
        case Errc::uri_too_long: return "uri_too_long";
        case Errc::unsupported_media_type: return "unsupported_media_type";
        case Errc::too_many_requests: return "too_many_requests";
        case Errc::headers_too_large: return "headers_too_large";
        case Errc::module_disabled: return "module_disabled";
        case Errc::read_only: return "read_only";
        case Errc::unavailable: return "unavailable";
        case Errc::insufficient_storage: return "insufficient_storage";
        case Errc::internal: return "internal";
    }
    return "internal";
}

}  // namespace silo
