// File contents of revisions and checkpoints (API.md §2, §6), as plain files under
// storage.root_dir: <root>/<kind>/<uuid>, where kind is "revisions" or "checkpoints".
//
// A file enters the store only whole and durable: it is written to a temporary file first
// (root/tmp, the same filesystem), hashed, fsync'ed, then renamed (or hard-linked) into place
// and the directory fsync'ed. Callers insert the row naming the key after that, so a committed
// row never points at a missing file; a crash in between leaves an orphan file, which
// sweep_orphans() removes. Thread-safe (no state beyond the root path).
#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "storage/sql.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace silo {

struct StoredBlob {
    std::string key;  // "<kind>/<uuid>"
    std::int64_t size = 0;
    std::string sha256;  // lower-case hex
};

// Whether files can be written under dir: creates a small probe file there, syncs and
// removes it. unavailable naming dir and the cause ("Read-only file system", "No space left
// on device", "Permission denied") when that fails. For start-up and /ready: a store that
// cannot take files must not pass for a healthy one.
Status probe_writable(const std::string& dir);

// SHA-256 (hex) of a file's bytes, after flushing it to disk.
Result<std::string> hash_and_sync(const std::string& path);

// Removes the regular files directly in dir last written before `before` that no row names:
// referenced(tx, path) asks, in one read transaction per file (a failed read keeps the file).
// Returns how many were removed.
std::int64_t remove_unreferenced_files(const std::string& dir, Millis before, sql::Database& db,
                                       const std::function<bool(sql::Tx&, const std::string& path)>& referenced);

class BlobStore {
public:
    explicit BlobStore(std::string root) : root_(std::move(root)) {}

    // Moves a finished temporary file into the store under a new key of `kind`.
    Result<StoredBlob> put(const std::string& temp_file, const std::string& kind);
    // Hard-links an existing file (same filesystem, already hashed and synced) into the store
    // under a new key, leaving the original in place.
    Result<StoredBlob> link(const std::string& existing, const std::string& kind, std::int64_t size,
                            const std::string& sha256);

    // The file of a key ('' when the key is malformed).
    std::string path(const std::string& key) const;
    void remove(const std::string& key) const;

    // Removes the files of `kind` older than `before` that no row names (asked through
    // `check` with the key), and temporary files older than `before`; returns how many.
    // `before` leaves uploads in flight (on this or another instance) alone.
    std::int64_t sweep_orphans(const std::string& kind, Millis before, sql::Database& db,
                               bool (*check)(sql::Tx&, std::string_view key)) const;

private:
    Result<std::string> new_key_path(const std::string& kind, std::string& key) const;
    std::string root_;
};

}  // namespace silo
