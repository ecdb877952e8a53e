// Revisions (API.md §2) and checkpoints (§6) against the real binary, on SQLite and
// PostgreSQL: multipart uploads built byte by byte, downloads compared with what was sent, the
// item's revision field, revision.created and checkpoint.created events, the per-item-per-user
// cap and the TTL (pinned checkpoints excepted), a checkpoint push that ends the caller's edit
// session in the same transaction, bad input that writes nothing (no row, no file), and a
// server killed with SIGKILL in the middle of uploads: after the restart every committed
// checkpoint downloads byte-identical and no row or file is left without the other.
#include "session_fixture.hpp"

#include <csignal>

#include <atomic>
#include <set>
#include <thread>

using namespace silo::itest;

namespace {

// A file whose bytes look like multipart framing: CRLFs, dashes, a near-boundary, NULs.
std::string tricky_file(std::size_t n, unsigned seed) {
    std::string s = "\r\n--" + std::string(kBoundary).substr(0, 20) + "\r\n\r\n--\r\n" + std::string(3, '\0');
    s += blob(n, seed);
    return s;
}

class Files : public SessionTest {
protected:
    HttpResult upload_revision(const std::string& token, const std::string& pn, const std::string& bytes,
                               const std::string& comment) {
        std::vector<Part> parts{{"file", bytes, "part.FCStd"}};
        if (!comment.empty()) parts.push_back({"comment", comment, ""});
        return as(port(), token).request("POST", "/api/items/" + pn + "/file", multipart(parts), multipart_headers());
    }
    std::string checkpoint_dir() const { return server->dir() + "/files/checkpoints"; }
    std::string revision_dir() const { return server->dir() + "/files/revisions"; }
    long checkpoint_rows() const { return count("SELECT COUNT(*) FROM checkpoints"); }

    // Nothing was written by a rejected upload: no checkpoint row or file, no temporary file.
    void expect_nothing_written(long rows_before, std::size_t files_before) {
        EXPECT_EQ(checkpoint_rows(), rows_before);
        EXPECT_EQ(files_in(checkpoint_dir()).size(), files_before);
        EXPECT_TRUE(files_in(upload_tmp_dir()).empty()) << "temporary files left behind";
    }
};

// ---------------------------------------------------------------------------------------------
// Revisions: upload, list, download, the item's revision field, the event and the audit row.

TEST_P(Files, RevisionsUploadListDownload) {
    boot();
    auto alice = make_user("alice", "editor");
    auto carol = make_user("carol", "viewer");
    auto item_id = make_item("REV-1");
    auto& everyone = open("carol, everyone's events", carol);

    const auto v1 = tricky_file(300000, 1), v2 = tricky_file(5000, 2);
    auto r = upload_revision(alice, "REV-1", v1, "first cut");
    ASSERT_EQ(r.status, 201) << r.body;
    auto j = r.js();
    EXPECT_EQ(j.value("revision_number", 0), 1) << r.body;
    EXPECT_EQ(str(j, "comment"), "first cut");
    EXPECT_EQ(j.value("file_size", 0L), static_cast<long>(v1.size()));
    EXPECT_EQ(str(j, "file_hash"), sha256_of(v1));
    EXPECT_EQ(str(j, "created_by"), "alice");
    EXPECT_TRUE(is_rfc3339_utc(j.value("created_at", json())));

    auto e = everyone.wait_for("revision.created");
    ASSERT_TRUE(e) << everyone.all();
    EXPECT_EQ(str(e->js(), "item_id"), item_id);
    EXPECT_EQ(str(e->js(), "part_number"), "REV-1");
    EXPECT_EQ(e->js().value("revision_number", 0), 1);
    EXPECT_EQ(str(e->js(), "comment"), "first cut");

    ASSERT_EQ(upload_revision(alice, "rev-1", v2, "").status, 201);  // part numbers match case-insensitively
    auto item = as(port(), carol).get("/api/items/REV-1").js();
    EXPECT_EQ(item.value("revision", 0), 2) << item.dump();

    auto list = as(port(), carol).get("/api/items/REV-1/revisions");
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_EQ(list.header("x-total-count"), "2");
    ASSERT_EQ(list.js().size(), 2u) << list.body;
    EXPECT_EQ(list.js()[0].value("revision_number", 0), 2) << "newest first";
    EXPECT_EQ(list.js()[1].value("revision_number", 0), 1);
    auto paged = as(port(), carol).get("/api/items/REV-1/revisions?limit=1&offset=1");
    ASSERT_EQ(paged.js().size(), 1u);
    EXPECT_EQ(paged.js()[0].value("revision_number", 0), 1);

    auto d1 = as(port(), carol).get("/api/items/REV-1/file/1");
    ASSERT_EQ(d1.status, 200);
    EXPECT_TRUE(d1.body == v1) << "revision 1 is not byte-identical (" << d1.body.size() << " bytes)";
    EXPECT_EQ(d1.header("content-type"), "application/octet-stream");
    auto d2 = as(port(), carol).get("/api/items/REV-1/file/2");
    EXPECT_TRUE(d2.body == v2);

    EXPECT_EQ(as(port(), carol).get("/api/items/REV-1/file/3").status, 404);
    EXPECT_EQ(as(port(), carol).get("/api/items/REV-1/file/zero").status, 400);
    EXPECT_EQ(as(port(), carol).get("/api/items/REV-1/file/0").status, 400);
    EXPECT_EQ(as(port(), carol).get("/api/items/NOPE-1/revisions").status, 404);

    auto rows = audit("revision.created");
    ASSERT_EQ(rows.size(), 2u) << rows.dump();

    // Bad input: nothing written, the revision stays 2.
    EXPECT_EQ(upload_revision(carol, "REV-1", v2, "").status, 403) << "viewers cannot upload";
    EXPECT_EQ(upload_revision(alice, "NOPE-1", v2, "").status, 404);
    EXPECT_EQ(upload_revision(alice, "REV-1", v2, std::string(2001, 'c')).status, 400);
    auto no_file = as(port(), alice).request("POST", "/api/items/REV-1/file", multipart({{"comment", "x", ""}}),
                                             multipart_headers());
    EXPECT_EQ(no_file.status, 400) << no_file.body;
    EXPECT_EQ(as(port(), carol).get("/api/items/REV-1").js().value("revision", 0), 2);
    EXPECT_EQ(files_in(revision_dir()).size(), 2u);
    EXPECT_TRUE(files_in(upload_tmp_dir()).empty());
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: create, list, latest, metadata, download, delete (owner / admin / others).

TEST_P(Files, CheckpointRoutesAndEvents) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto carol = make_user("carol", "viewer");
    auto item_id = make_item("CP-1");
    make_item("CP-2");
    auto& watcher = open("carol watching CP-1", carol, "?watch=CP-1");
    auto& other = open("carol watching CP-2", carol, "?watch=CP-2");

    const auto a1 = tricky_file(200000, 3), a2 = tricky_file(10, 4), b1 = tricky_file(70000, 5);
    auto r = push_checkpoint(alice, "CP-1", a1, "sketch_close", "0");
    ASSERT_EQ(r.status, 201) << r.body;
    auto c = r.js();
    const std::string first = str(c, "id");
    EXPECT_EQ(first.size(), 36u);
    EXPECT_EQ(str(c, "item_id"), item_id);
    EXPECT_EQ(str(c, "part_number"), "CP-1");
    EXPECT_EQ(str(c, "user"), "alice");
    EXPECT_EQ(c.value("base_revision", -1), 0);
    EXPECT_EQ(str(c, "context"), "sketch_close");
    EXPECT_EQ(str(c, "storage_mode"), "full");
    EXPECT_EQ(str(c, "file_hash"), sha256_of(a1));
    EXPECT_EQ(c.value("file_size", 0L), static_cast<long>(a1.size()));
    EXPECT_EQ(c.value("pinned", true), false);
    EXPECT_TRUE(is_rfc3339_utc(c.value("created_at", json())));
    EXPECT_TRUE(is_rfc3339_utc(c.value("expires_at", json()))) << "168 h after creation";

    auto e = watcher.wait_for("checkpoint.created");
    ASSERT_TRUE(e) << watcher.all();
    EXPECT_EQ(str(e->js(), "checkpoint_id"), first);
    EXPECT_EQ(str(e->js(), "user"), "alice");
    EXPECT_EQ(str(e->js(), "context"), "sketch_close");
    EXPECT_EQ(e->js().value("base_revision", -1), 0);
    EXPECT_EQ(str(e->js(), "part_number"), "CP-1");

    std::this_thread::sleep_for(5ms);  // distinct created_at for the newest-first order
    auto second = str(push_checkpoint(alice, "CP-1", a2, "autosave").js(), "id");
    std::this_thread::sleep_for(5ms);
    auto bobs = str(push_checkpoint(bob, "CP-1", b1, "body_close").js(), "id");
    ASSERT_FALSE(second.empty() || bobs.empty());

    auto list = as(port(), carol).get("/api/items/CP-1/checkpoints");
    ASSERT_EQ(list.status, 200) << list.body;
    EXPECT_EQ(list.header("x-total-count"), "3");
    ASSERT_EQ(list.js().size(), 3u);
    EXPECT_EQ(str(list.js()[0], "id"), bobs) << "newest first";
    EXPECT_EQ(str(list.js()[2], "id"), first);
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-1/checkpoints?user=alice").js().size(), 2u);

    EXPECT_EQ(str(as(port(), carol).get("/api/items/CP-1/checkpoints/latest").js(), "id"), bobs);
    EXPECT_EQ(str(as(port(), carol).get("/api/items/CP-1/checkpoints/latest?user=alice").js(), "id"), second);
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-1/checkpoints/latest?user=nobody").status, 404);
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-2/checkpoints/latest").status, 404);

    auto meta = as(port(), carol).get("/api/items/CP-1/checkpoints/" + first);
    ASSERT_EQ(meta.status, 200);
    EXPECT_EQ(meta.js(), c);
    auto file = as(port(), carol).get("/api/items/CP-1/checkpoints/" + first + "/file");
    ASSERT_EQ(file.status, 200);
    EXPECT_TRUE(file.body == a1) << "download is not byte-identical";
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-2/checkpoints/" + first).status, 404) << "another item's";
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-1/checkpoints/not-a-uuid").status, 404);

    // Delete: not by another editor, not by a viewer; by the owner and by an admin.
    EXPECT_EQ(as(port(), bob).del("/api/items/CP-1/checkpoints/" + first).status, 403);
    EXPECT_EQ(as(port(), carol).del("/api/items/CP-1/checkpoints/" + first).status, 403);
    EXPECT_EQ(files_in(checkpoint_dir()).size(), 3u);
    EXPECT_EQ(as(port(), alice).del("/api/items/CP-1/checkpoints/" + first).status, 204);
    EXPECT_EQ(admin().del("/api/items/CP-1/checkpoints/" + bobs).status, 204);
    EXPECT_EQ(as(port(), alice).del("/api/items/CP-1/checkpoints/" + first).status, 404);
    EXPECT_EQ(as(port(), carol).get("/api/items/CP-1/checkpoints/" + first + "/file").status, 404);
    EXPECT_EQ(files_in(checkpoint_dir()).size(), 1u) << "deleted checkpoints' files are removed";
    auto deleted = audit("checkpoint.deleted");
    ASSERT_EQ(deleted.size(), 2u) << deleted.dump();
    EXPECT_EQ(audit("checkpoint.created").size(), 3u);

    settle({&other});
    EXPECT_TRUE(other.of("checkpoint.created").empty()) << other.all();
}

// ---------------------------------------------------------------------------------------------
// The cap per item and user (the oldest unpinned goes first) and the TTL.

TEST_P(Files, CapAndTtl) {
    boot({{"SILO_MODULES_SESSIONS_CHECKPOINT_MAX_PER_ITEM", "3"}});
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    make_item("CAP-1");
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        auto r = push_checkpoint(alice, "CAP-1", blob(1000, 10 + i));
        ASSERT_EQ(r.status, 201) << r.body;
        ids.push_back(str(r.js(), "id"));
        std::this_thread::sleep_for(5ms);
    }
    auto bobs = str(push_checkpoint(bob, "CAP-1", blob(1000, 99)).js(), "id");
    auto mine = as(port(), alice).get("/api/items/CAP-1/checkpoints?user=alice").js();
    ASSERT_EQ(mine.size(), 3u) << mine.dump();
    EXPECT_EQ(str(mine[0], "id"), ids[4]);
    EXPECT_EQ(str(mine[2], "id"), ids[2]) << "the two oldest went first";
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints/" + ids[0]).status, 404);
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints?user=bob").js().size(), 1u) << "per user";
    EXPECT_EQ(files_in(checkpoint_dir()).size(), 4u) << "trimmed checkpoints' files are removed";

    // A pinned checkpoint is never trimmed nor expired (force-release makes them; here the
    // row is pinned directly).
    server->sql("UPDATE checkpoints SET pinned = 1, expires_at = 0 WHERE id = '" + ids[2] + "'");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(push_checkpoint(alice, "CAP-1", blob(1000, 50 + i)).status, 201);
    auto now_mine = as(port(), alice).get("/api/items/CAP-1/checkpoints?user=alice").js();
    EXPECT_EQ(now_mine.size(), 4u) << "3 unpinned + the pinned one: " << now_mine.dump();
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints/" + ids[2]).status, 200);

    // TTL: an expired checkpoint is gone from every route at once, and the sweeper (which also
    // runs at start) removes its row and file.
    server->sql("UPDATE checkpoints SET expires_at = 1 WHERE id = '" + bobs + "'");
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints/" + bobs).status, 404);
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints?user=bob").js().size(), 0u);
    EXPECT_EQ(as(port(), alice).get("/api/items/CAP-1/checkpoints/latest?user=bob").status, 404);
    auto files_before = files_in(checkpoint_dir()).size();
    ASSERT_EQ(server->stop(), 0) << server->log();
    auto o = options();
    o.data_dir = server->dir();
    o.pg_url = server->pg_url();
    auto retired = std::move(server);
    server = ServerProcess::start(o);
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline && count("SELECT COUNT(*) FROM checkpoints WHERE id = '" + bobs + "'") != 0)
        std::this_thread::sleep_for(50ms);
    EXPECT_EQ(count("SELECT COUNT(*) FROM checkpoints WHERE id = '" + bobs + "'"), 0);
    EXPECT_EQ(files_in(checkpoint_dir()).size(), files_before - 1);
    EXPECT_EQ(count("SELECT COUNT(*) FROM checkpoints WHERE id = '" + ids[2] + "'"), 1) << "pinned stays";
}

// ---------------------------------------------------------------------------------------------
// session_id: the push ends the caller's session in the same transaction (reason checkpoint).

TEST_P(Files, CheckpointEndsTheSession) {
    boot();
    auto alice = make_user("alice", "editor");
    auto bob = make_user("bob", "editor");
    auto a1 = register_ws(alice, "alice-1");
    make_item("CS-1");
    make_item("CS-2");
    auto& watcher = open("bob watching CS-1", bob, "?watch=CS-1");
    auto sid = str(acquire_ok(alice, "CS-1", a1, "sketch", "Sketch001"), "id");
    auto other_item = str(acquire_ok(alice, "CS-2", a1, "sketch", "Sketch001"), "id");
    ASSERT_EQ(put_work(alice, "CS-1", sid, "in progress").status, 200);
    auto handoff = as(port(), bob).post_json("/api/items/CS-1/edit-sessions/" + sid + "/request-handoff",
                                             {{"message", "please"}});
    ASSERT_EQ(handoff.status, 202) << handoff.body;

    // Refused, nothing written, the session still held.
    EXPECT_EQ(push_checkpoint(bob, "CS-1", "x", "manual", "0", sid).status, 403) << "another user's session";
    EXPECT_EQ(push_checkpoint(alice, "CS-1", "x", "manual", "0", other_item).status, 404) << "a session of another item";
    EXPECT_EQ(push_checkpoint(alice, "CS-1", "x", "manual", "0", "not-a-session").status, 404);
    expect_nothing_written(0, 0);
    EXPECT_EQ(list_item(alice, "CS-1").size(), 1u);

    auto bytes = tricky_file(40000, 7);
    auto r = push_checkpoint(alice, "CS-1", bytes, "sketch_close", "0", sid);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(list_item(alice, "CS-1"), json::array());
    auto released = watcher.wait_for("edit.session_released", sid);
    ASSERT_TRUE(released) << watcher.all();
    EXPECT_EQ(str(released->js(), "reason"), "checkpoint");
    auto created = watcher.wait_for("checkpoint.created");
    ASSERT_TRUE(created) << watcher.all();
    EXPECT_LT(*released->id, *created->id) << "one transaction, release first";
    EXPECT_TRUE(files_in(work_dir()).empty()) << "the session's work file went with the session";
    auto requests = as(port(), bob).get("/api/handoff-requests?session_id=" + sid).js();
    ASSERT_EQ(requests.size(), 1u) << requests.dump();
    EXPECT_EQ(str(requests[0], "status"), "fulfilled");

    // The session is gone: a second push with it is 404 and writes nothing.
    EXPECT_EQ(push_checkpoint(alice, "CS-1", "y", "manual", "0", sid).status, 404);
    expect_nothing_written(1, 1);
}

// ---------------------------------------------------------------------------------------------
// Bad uploads: a clear 4xx, no row, no file.

TEST_P(Files, BadUploadsWriteNothing) {
    boot({{"SILO_SERVER_MAX_UPLOAD_BYTES", "65536"}});
    auto alice = make_user("alice", "editor");
    make_item("BAD-1");
    auto c = as(port(), alice);
    auto post = [&](const std::string& body, const Headers& h) {
        return c.request("POST", "/api/items/BAD-1/checkpoints", body, h);
    };
    const auto good = multipart({{"context", "manual", ""}, {"base_revision", "0", ""}, {"file", "abc", "f"}});

    struct Case {
        const char* what;
        std::string body;
        Headers headers;
        int status;
    };
    std::vector<Case> cases = {
        {"truncated (no closing boundary)", good.substr(0, good.size() - 10), multipart_headers(), 400},
        {"truncated in the headers", "--" + std::string(kBoundary) + "\r\nContent-Disposition: form-da",
         multipart_headers(), 400},
        {"no boundary parameter", good, {{"Content-Type", "multipart/form-data"}}, 400},
        {"another boundary", good, multipart_headers("other-boundary"), 400},
        {"not multipart", "{}", {{"Content-Type", "application/json"}}, 415},
        {"no file part", multipart({{"context", "manual", ""}, {"base_revision", "0", ""}}), multipart_headers(), 400},
        {"no context", multipart({{"base_revision", "0", ""}, {"file", "abc", "f"}}), multipart_headers(), 400},
        {"unknown context", multipart({{"context", "lunch", ""}, {"base_revision", "0", ""}, {"file", "a", "f"}}),
         multipart_headers(), 400},
        {"force_release is not for clients",
         multipart({{"context", "force_release", ""}, {"base_revision", "0", ""}, {"file", "a", "f"}}),
         multipart_headers(), 400},
        {"base_revision not a number", multipart({{"context", "manual", ""}, {"base_revision", "one", ""}, {"file", "a", "f"}}),
         multipart_headers(), 400},
        {"base_revision above the item's", multipart({{"context", "manual", ""}, {"base_revision", "4", ""}, {"file", "a", "f"}}),
         multipart_headers(), 400},
        {"file twice", multipart({{"context", "manual", ""}, {"base_revision", "0", ""}, {"file", "a", "f"}, {"file", "b", "g"}}),
         multipart_headers(), 400},
        {"over the upload limit",
         multipart({{"context", "manual", ""}, {"base_revision", "0", ""}, {"file", blob(70000, 1), "f"}}),
         multipart_headers(), 413},
        {"empty body", "", multipart_headers(), 400},
    };
    for (const auto& k : cases) {
        SCOPED_TRACE(k.what);
        auto r = post(k.body, k.headers);
        EXPECT_EQ(r.status, k.status) << r.body;
        EXPECT_FALSE(str(r.js(), "error").empty()) << r.body;
        expect_nothing_written(0, 0);
    }
    EXPECT_EQ(c.request("POST", "/api/items/NOPE-9/checkpoints", good, multipart_headers()).status, 404);
    expect_nothing_written(0, 0);
    // And the server still takes a good one.
    EXPECT_EQ(post(good, multipart_headers()).status, 201);
    expect_nothing_written(1, 1);
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during uploads: every committed checkpoint survives whole, no row without its file,
// and the orphan files of the interrupted uploads are swept at the next start.

TEST_P(Files, KilledDuringUploadsLosesNothingCommitted) {
    boot();
    auto alice = make_user("alice", "editor");
    make_item("KILL-1");
    std::mutex mu;
    std::map<std::string, std::string> sent;  // sha256 -> bytes, of every upload attempted
    std::atomic<bool> stop{false};
    std::atomic<int> created{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            auto c = as(port(), alice);
            for (int i = 0; i < 400 && !stop; ++i) {
                auto bytes = blob(100000 + static_cast<std::size_t>(i * 997 % 400000), static_cast<unsigned>(t * 1000 + i));
                {
                    std::lock_guard<std::mutex> lk(mu);
                    sent[sha256_of(bytes)] = bytes;
                }
                HttpResult r;
                try {
                    r = c.request("POST", "/api/items/KILL-1/checkpoints",
                                  multipart({{"context", "autosave", ""}, {"base_revision", "0", ""}, {"file", bytes, "f"}}),
                                  multipart_headers());
                } catch (const std::exception&) {
                    break;  // the server is gone
                }
                if (r.status == 201) ++created;
                if (r.status == 0) break;
            }
        });
    }
    auto deadline = Clock::now() + 20s;
    while (created < 12 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_GE(created.load(), 12) << server->log();
    server->stop(SIGKILL);
    stop = true;
    for (auto& t : clients) t.join();

    auto o = options({{"SILO_STORAGE_ORPHAN_GRACE_MINUTES", "0"}});
    o.data_dir = server->dir();
    o.pg_url = server->pg_url();
    auto killed = std::move(server);
    server = ServerProcess::start(o);

    auto rows = server->sql("SELECT id FROM checkpoints");
    ASSERT_GE(rows.size(), 5u) << "the cap keeps the newest 5";
    auto c = as(port(), alice);
    for (const auto& id : rows) {
        SCOPED_TRACE(id);
        auto meta = c.get("/api/items/KILL-1/checkpoints/" + id);
        ASSERT_EQ(meta.status, 200) << meta.body;
        auto file = c.get("/api/items/KILL-1/checkpoints/" + id + "/file");
        ASSERT_EQ(file.status, 200) << "a row points at a missing file";
        auto hash = sha256_of(file.body);
        EXPECT_EQ(hash, str(meta.js(), "file_hash"));
        EXPECT_EQ(static_cast<long>(file.body.size()), meta.js().value("file_size", -1L));
        auto it = sent.find(hash);
        ASSERT_NE(it, sent.end()) << "not the bytes of any upload";
        EXPECT_TRUE(it->second == file.body);
    }
    // The start-up sweep (grace 0 here) leaves exactly one file per row and no temporary file.
    auto until = Clock::now() + 10s;
    while (Clock::now() < until && (files_in(checkpoint_dir()).size() != rows.size() || !files_in(upload_tmp_dir()).empty()))
        std::this_thread::sleep_for(50ms);
    EXPECT_EQ(files_in(checkpoint_dir()).size(), rows.size());
    EXPECT_TRUE(files_in(upload_tmp_dir()).empty());
}

INSTANTIATE_TEST_SUITE_P(Db, Files, ::testing::Values(Db::sqlite, Db::postgres), param_name);

}  // namespace
