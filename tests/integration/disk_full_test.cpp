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
    bool read_only(bool on) {
        return ::mount("silo-test", dir_.c_str(), "tmpfs", MS_REMOUNT | (on ? MS_RDONLY : 0), nullptr) == 0;
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

// The sweeper ends a dropped workstation's session (issue 13): when the file store cannot take
// the holder's work now (read-only here; full is the same), the session stays held and the
// work is kept by a later sweep once it can; when the work file itself is gone, the session is
// released without it (it cannot come back), never held for ever.
class SweeperAndStore : public SessionTest {};

TEST_P(SweeperAndStore, ASessionWhoseWorkCannotBeKeptNowWaitsAndOneWhoseFileIsGoneEnds) {
    SmallDisk disk("16m");
    if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (" << disk.why() << ")";
    boot({{"SILO_STORAGE_ROOT_DIR", disk.dir() + "/files"}});
    auto alice = make_user("alice", "editor");
    auto a1 = register_ws(alice, "alice-1");
    auto a2 = register_ws(alice, "alice-2");
    make_item("SW-1");
    auto& watcher = open("admin watching SW-1", admin_token, "?watch=SW-1");
    auto& s1 = open("alice/a1", alice, "?workstation_id=" + a1);
    auto& s2 = open("alice/a2", alice, "?workstation_id=" + a2);
    const std::string held = str(acquire_ok(alice, "SW-1", a1, "sketch", "Sketch001"), "id");
    const std::string lost = str(acquire_ok(alice, "SW-1", a2, "sketch", "Sketch002"), "id");
    auto put = [&](const std::string& sid, const std::string& body) {
        return as(port(), alice)
            .request("PUT", "/api/items/SW-1/edit-sessions/" + sid + "/work", body,
                     {{"Content-Type", "application/octet-stream"}})
            .status;
    };
    ASSERT_EQ(put(held, "alice's sketch"), 200);
    ASSERT_EQ(put(lost, "alice's other sketch"), 200);
    // The second session's work file disappears from under it, and its workstation drops off:
    // released after the grace, without a checkpoint.
    for (const auto& e : fs::directory_iterator(disk.dir() + "/files/work"))
        if (e.path().filename().string().rfind(lost, 0) == 0) fs::remove(e.path());
    s2.sse->close();
    auto e = watcher.wait_for("edit.session_released", lost, std::chrono::seconds(kGraceSeconds + kSweepSeconds + 10));
    ASSERT_TRUE(e) << watcher.all();
    EXPECT_EQ(str(e->js(), "reason"), "disconnected");
    EXPECT_EQ(as(port(), alice).get("/api/items/SW-1/checkpoints?user=alice").js().size(), 0u);

    // The first drops off while the store is read-only.
    ASSERT_TRUE(disk.read_only(true)) << std::strerror(errno);
    s1.sse->close();
    std::this_thread::sleep_for(std::chrono::seconds(kGraceSeconds));
    // The other is held through more sweeps while the store is read-only (a canary first).
    std::this_thread::sleep_for(std::chrono::seconds(3 * kSweepSeconds));
    settle({&watcher});
    EXPECT_TRUE(watcher.of("edit.session_released", held).empty()) << watcher.all();
    auto listed = list_item(admin_token, "SW-1");
    ASSERT_EQ(listed.size(), 1u) << listed.dump();
    EXPECT_EQ(str(listed[0], "id"), held);
    // Writable again: the next sweep keeps the work and releases it.
    ASSERT_TRUE(disk.read_only(false)) << std::strerror(errno);
    auto later = watcher.wait_for("edit.session_released", held, std::chrono::seconds(kSweepSeconds + 10));
    ASSERT_TRUE(later) << watcher.all();
    auto cps = as(port(), alice).get("/api/items/SW-1/checkpoints?user=alice").js();
    ASSERT_EQ(cps.size(), 1u) << cps.dump();
    EXPECT_EQ(str(cps[0], "context"), "disconnected");
    EXPECT_EQ(as(port(), alice).get("/api/items/SW-1/checkpoints/" + str(cps[0], "id") + "/file").body, "alice's sketch");
}

INSTANTIATE_TEST_SUITE_P(Db, SweeperAndStore, ::testing::Values(Db::sqlite, Db::postgres), param_name);

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
