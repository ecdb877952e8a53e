#include "storage/blob_store.hpp"

#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace silo {

namespace {

bool valid_kind(const std::string& kind) { return kind == "revisions" || kind == "checkpoints"; }

void sync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

Millis mtime_millis(const fs::directory_entry& e) {
    std::error_code ec;
    auto t = e.last_write_time(ec);
    if (ec) return 0;
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(fs::file_time_type::clock::now() - t).count();
    return now_millis() - age;
}

}  // namespace

Status probe_writable(const std::string& dir) {
    auto path = (fs::path(dir) / (".probe-" + random_hex(8))).string();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Error(Errc::unavailable, dir + " is not writable: " + std::strerror(errno));
    bool ok = ::write(fd, "x", 1) == 1 && ::fsync(fd) == 0;
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    if (!ok) return Error(Errc::unavailable, dir + " is not writable: " + std::strerror(err));
    return {};
}

Result<std::string> hash_and_sync(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return internal_error("the upload could not be read");
    Sha256 h;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            ::close(fd);
            return internal_error("the upload could not be read");
        }
        if (n == 0) break;
        h.update(buf, static_cast<std::size_t>(n));
    }
    int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return file_write_error(err, "the upload could not be flushed to disk");
    return h.final_hex();
}

Result<std::string> BlobStore::new_key_path(const std::string& kind, std::string& key) const {
    if (!valid_kind(kind)) return internal_error("unknown blob kind");
    std::error_code ec;
    auto dir = fs::path(root_) / kind;
    fs::create_directories(dir, ec);
    if (ec) return file_write_error(ec.value(), "the file store is not writable");
    key = kind + "/" + new_uuid();
    return (fs::path(root_) / key).string();
}

Result<StoredBlob> BlobStore::put(const std::string& temp_file, const std::string& kind) {
    std::error_code ec;
    auto size = fs::file_size(temp_file, ec);
    if (ec) return internal_error("the upload could not be read");
    SILO_TRY(auto hash, hash_and_sync(temp_file));
    StoredBlob b;
    SILO_TRY(auto dest, new_key_path(kind, b.key));
    fs::rename(temp_file, dest, ec);
    if (ec) return file_write_error(ec.value(), "the upload could not be stored");
    sync_dir(fs::path(dest).parent_path());
    b.size = static_cast<std::int64_t>(size);
    b.sha256 = std::move(hash);
    return b;
}

Result<StoredBlob> BlobStore::link(const std::string& existing, const std::string& kind, std::int64_t size,
                                   const std::string& sha256) {
    StoredBlob b;
    SILO_TRY(auto dest, new_key_path(kind, b.key));
    std::error_code ec;
    fs::create_hard_link(existing, dest, ec);
    if (ec) return file_write_error(ec.value(), "the work file could not be preserved");
    // The link shares the work file's (possibly old) mtime: make it young so that the orphan
    // sweep leaves it alone until its row commits.
    fs::last_write_time(dest, fs::file_time_type::clock::now(), ec);
    sync_dir(fs::path(dest).parent_path());
    b.size = size;
    b.sha256 = sha256;
    return b;
}

std::string BlobStore::path(const std::string& key) const {
    auto slash = key.find('/');
    if (slash == std::string::npos || !valid_kind(key.substr(0, slash)) || !is_uuid(key.substr(slash + 1))) return "";
    return (fs::path(root_) / key).string();
}

void BlobStore::remove(const std::string& key) const {
    auto p = path(key);
    if (p.empty()) return;
    std::error_code ec;
    fs::remove(p, ec);
}

std::int64_t remove_unreferenced_files(const std::string& dir, Millis before, sql::Database& db,
                                       const std::function<bool(sql::Tx&, const std::string& path)>& referenced) {
    std::int64_t removed = 0;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file(ec) || mtime_millis(e) >= before) continue;
        bool keep = true;  // a failed read keeps the file
        (void)db.transact(sql::TxMode::read, [&](sql::Tx& tx) -> Status {
            keep = referenced(tx, e.path().string());
            return {};
        });
        if (!keep && fs::remove(e.path(), ec)) ++removed;
    }
    if (removed > 0) log::info("orphan files removed", {{"dir", dir}, {"count", removed}});
    return removed;
}

std::int64_t BlobStore::sweep_orphans(const std::string& kind, Millis before, sql::Database& db,
                                      bool (*check)(sql::Tx&, std::string_view key)) const {
    auto by_key = [&](sql::Tx& tx, const std::string& path) {
        return check(tx, kind + "/" + fs::path(path).filename().string());
    };
    auto never = [](sql::Tx&, const std::string&) { return false; };
    return remove_unreferenced_files((fs::path(root_) / kind).string(), before, db, by_key) +
           remove_unreferenced_files((fs::path(root_) / "tmp").string(), before, db, never);
}

}  // namespace silo
