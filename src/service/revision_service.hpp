// Item revisions (API.md §2): upload a file as the item's next revision, list, download.
// Files live in the BlobStore; the row is inserted only once the file is durable. Thread-safe.
#pragma once

#include "core/error.hpp"
#include "core/role.hpp"
#include "service/events.hpp"
#include "storage/blob_store.hpp"
#include "storage/revision_repository.hpp"
#include "storage/sql.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace silo {

struct RevisionPage {
    std::vector<RevisionRecord> revisions;
    std::int64_t total = 0;
};

class RevisionService {
public:
    RevisionService(sql::Database& db, EventNotifier& events, BlobStore& blobs, int orphan_grace_minutes)
        : db_(db), events_(events), blobs_(blobs), orphan_grace_minutes_(orphan_grace_minutes) {}

    // The finished temporary upload becomes the item's next revision. 404 unknown item;
    // 400 a comment over 2000 characters.
    Result<RevisionRecord> upload(const Principal& p, const std::string& part_number, const std::string& temp_file,
                                  const std::string& comment);
    // Newest first. 404 unknown item.
    Result<RevisionPage> list(const std::string& part_number, std::int64_t limit, std::int64_t offset);
    // 404 unknown item or revision.
    Result<RevisionRecord> get(const std::string& part_number, std::int64_t number);
    std::string file_path(const RevisionRecord& r) const { return blobs_.path(r.blob_key); }

    // Orphan files (a crash between the file and its row). Never throws.
    void sweep();

private:
    sql::Database& db_;
    EventNotifier& events_;
    BlobStore& blobs_;
    int orphan_grace_minutes_;
};

// Revision JSON (API.md §2).
nlohmann::json revision_json(const RevisionRecord& r);

}  // namespace silo
