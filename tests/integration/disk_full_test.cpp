// A full disk (issue 13), on a small real filesystem this test mounts (tmpfs; root in CI,
// elsewhere the test skips): under the file store, an upload answers 507 insufficient_storage
// with no row and no partial file, everything else keeps serving, and uploads work again once
// there is space; under SQLite's database, a write answers 507 and the database stays sound
// (PRAGMA integrity_check).
#include "harness.hpp"
#include "session_fixture.hpp"

#include <sys/mount.h>

#include <filesystem>

using namespace silo::itest;

namespace {

// A tmpfs of `size` at a new directory, unmounted and removed at the end.
class SmallDisk {
public:
    explicit SmallDisk(const std::string& size) : dir_(make_temp_dir("silod-full")) {
        ok_ = ::mount("silo-test", dir_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
        why_ = ok_ ? "" : std::strerror(errno);
    }
    ~SmallDisk() {
        if (ok_) ::umount2(dir_.c_str(), MNT_DETACH);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    bool ok() const { return ok_; }
    const std::string& why() const { return why_; }
    const std::string& dir() const { return dir_; }
    bool resize(const std::string& size) {
        return ::mount("silo-test", dir_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
    }

private:
    std::string dir_;
    bool ok_ = false;
    std::string why_;
};

std::size_t files_under(const std::string& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file()) ++n;
    return n;
}

class DiskFull : public ::testing::TestWithParam<Db> {
protected:
    void SetUp() override { SILO_REQUIRE_DATABASE(GetParam()); }
};

TEST_P(DiskFull, AFullFileStoreRefusesUploadsWith507AndRecovers) {
    SmallDisk disk("2m");
    if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (" << disk.why() << ")";
    ServerOptions o;
    o.db = GetParam();
    o.env = {{"SILO_STORAGE_ROOT_DIR", disk.dir() + "/files"}};
    auto s = ServerProcess::start(o);  // auth off
    auto c = s->client();
    ASSERT_EQ(c.post_json("/api/items", {{"part_number", "DF-1"}}).status, 201);
    const auto ws = c.post_json("/api/workstations", {{"name", "w"}, {"fingerprint", "fp"}}).js().value("id", "");
    auto sid = c.post_json("/api/items/DF-1/edit-sessions",
                           {{"workstation_id", ws}, {"context_level", "sketch"}, {"object_id", "S1"}})
                   .js()
                   .value("id", "");
    ASSERT_FALSE(sid.empty());
    const auto before = files_under(disk.dir());
    const std::string big = blob(3u << 20, 7);  // more than the disk holds

    auto rev = c.request("POST", "/api/items/DF-1/file", multipart({{"file", big, "big.FCStd"}}), multipart_headers());
    EXPECT_EQ(rev.status, 507) << rev.body;
    EXPECT_EQ(str(rev.js(), "error"), "insufficient_storage") << rev.body;
    auto work = c.request("PUT", "/api/items/DF-1/edit-sessions/" + sid + "/work", big,
                          {{"Content-Type", "application/octet-stream"}});
    EXPECT_EQ(work.status, 507) << work.body;
    // Nothing of them stays: no row, no file.
    EXPECT_EQ(c.get("/api/items/DF-1").js()["revision"], 0);
    EXPECT_EQ(c.get("/api/items/DF-1/revisions").header("x-total-count"), "0");
    EXPECT_EQ(s->sql("SELECT COUNT(*) FROM edit_sessions WHERE work_path <> ''").at(0), "0");
    EXPECT_EQ(files_under(disk.dir()), before) << "a partial file was left behind";
    // Everything else serves, small uploads included.
    EXPECT_EQ(c.get("/health").status, 200);
    EXPECT_EQ(c.post_json("/api/items", {{"part_number", "DF-2"}}).status, 201);
    EXPECT_EQ(c.request("POST", "/api/items/DF-1/file", multipart({{"file", blob(10000, 1), "s.FCStd"}}),
                        multipart_headers())
                  .status,
              201);
    // With room again, the big upload works.
    ASSERT_TRUE(disk.resize("16m")) << std::strerror(errno);
    auto again = c.request("POST", "/api/items/DF-1/file", multipart({{"file", big, "big.FCStd"}}), multipart_headers());
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(c.request("PUT", "/api/items/DF-1/edit-sessions/" + sid + "/work", big,
                        {{"Content-Type", "application/octet-stream"}})
                  .status,
              200);
    EXPECT_EQ(s->stop(), 0) << s->log();
}

INSTANTIATE_TEST_SUITE_P(Db, DiskFull, ::testing::Values(Db::sqlite, Db::postgres), param_name);

// SQLite's own disk fills: writes answer 507 (a clear 5xx, never a crash or a bare 500), reads
// go on, PRAGMA integrity_check passes, and writes work again once there is room.
TEST(DiskFullSqlite, AFullDatabaseDiskAnswers507AndStaysSound) {
    SmallDisk disk("4m");
    if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (" << disk.why() << ")";
    ServerOptions o;
    o.sqlite_path = disk.dir() + "/silo.db";
    auto s = ServerProcess::start(o);  // auth off, files elsewhere
    auto c = s->client();
    const std::string desc(3900, 'd');
    int created = 0;
    HttpResult last;
    for (int i = 0; i < 2000; ++i) {
        last = c.post_json("/api/items", {{"part_number", "DB-" + std::to_string(i)}, {"description", desc}});
        if (last.status != 201) break;
        ++created;
    }
    ASSERT_GT(created, 10);
    RecordProperty("items_before_full", created);
    EXPECT_EQ(last.status, 507) << "after " << created << " items: " << last.body;
    EXPECT_EQ(str(last.js(), "error"), "insufficient_storage") << last.body;
    EXPECT_EQ(c.get("/api/items?limit=1").status, 200) << "reads go on";
    EXPECT_EQ(c.get("/api/items?limit=1").header("x-total-count"), std::to_string(created));
    EXPECT_EQ(s->sql("PRAGMA integrity_check").at(0), "ok");
    ASSERT_TRUE(disk.resize("16m")) << std::strerror(errno);
    EXPECT_EQ(c.post_json("/api/items", {{"part_number", "DB-after"}, {"description", desc}}).status, 201);
    EXPECT_EQ(s->sql("PRAGMA integrity_check").at(0), "ok");
    auto v = c.get("/api/audit/verify");
    EXPECT_EQ(v.js().value("ok", false), true) << v.body;
    EXPECT_EQ(s->stop(), 0) << s->log();
}

}  // namespace
