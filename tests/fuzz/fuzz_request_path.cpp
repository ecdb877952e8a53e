// The whole request path (issue 13): any bytes as one HTTP request, through the framing check,
// Beast's parser, read_request_head, the router and the real handlers and services, on a
// SQLite database and a file store in a temporary folder (/dev/shm when there is one); no
// sockets. Authentication is off (every request runs as admin, so every route is reachable);
// event streams are not wired. A request silod accepts must be answered without a crash, with
// no 5xx, and every error answer is the envelope {"error": code, "message": ...}.
#include "api/routes.hpp"
#include "auth/auth_service.hpp"
#include "auth/password.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "domain/part_number.hpp"
#include "domain/workflow.hpp"
#include "http/beast.hpp"
#include "http/framing.hpp"
#include "http/request_head.hpp"
#include "http/router.hpp"
#include "service/approval_service.hpp"
#include "service/audit_service.hpp"
#include "service/checkpoint_service.hpp"
#include "service/handoff_service.hpp"
#include "service/item_service.hpp"
#include "service/revision_service.hpp"
#include "service/user_service.hpp"
#include "service/workstation_service.hpp"
#include "storage/blob_store.hpp"
#include "storage/sql.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace silo;
namespace fs = std::filesystem;
namespace bhttp = boost::beast::http;

namespace {

// The checkout: the first folder above this binary that holds schemas/ and workflows/.
std::string checkout() {
    std::error_code ec;
    auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    for (; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
        if (fs::is_directory(dir / "schemas") && fs::is_directory(dir / "workflows")) return dir.string();
    std::fprintf(stderr, "fuzz_request_path: no checkout (schemas/, workflows/) above the binary\n");
    std::abort();
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "fuzz_request_path: %s: %s\n", what, r.error().message.c_str());
        std::abort();
    }
    return std::move(*r);
}

// The services and routes of silod, wired once per process.
struct App {
    App() {
        log::init(log::Level::error);
        const std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
        std::string tmpl = base + "/silo-fuzz-XXXXXX";
        if (!::mkdtemp(tmpl.data())) std::abort();
        dir = tmpl;
        std::atexit([] { std::error_code ec; fs::remove_all(app().dir, ec); });
        cfg.storage.root_dir = dir + "/files";
        fs::create_directories(cfg.storage.root_dir);
        sql::DatabaseOptions dbo;
        dbo.dialect = sql::Dialect::sqlite;
        dbo.sqlite_path = dir + "/silo.db";
        db = must(sql::open_database(dbo), "database");
        if (!db->migrate().ok()) std::abort();
        const auto root = checkout();
        auth = std::make_unique<AuthService>(*db, hasher);
        users = std::make_unique<UserService>(*db, hasher);
        audit = std::make_unique<AuditService>(*db);
        items = std::make_unique<ItemService>(*db, notifier, must(load_schemas(root + "/schemas"), "schemas"));
        workstations = std::make_unique<WorkstationService>(*db);
        sessions = std::make_unique<SessionService>(*db, notifier, cfg.sessions, cfg.storage.root_dir + "/work");
        approvals = std::make_unique<ApprovalService>(*db, notifier, must(load_workflows(root + "/workflows"), "workflows"),
                                                      cfg.approvals.allow_self_approval);
        blobs = std::make_unique<BlobStore>(cfg.storage.root_dir);
        revisions = std::make_unique<RevisionService>(*db, notifier, *blobs, cfg.storage.orphan_grace_minutes);
        checkpoints = std::make_unique<CheckpointService>(*db, notifier, *blobs, *sessions, cfg.sessions,
                                                          cfg.storage.orphan_grace_minutes);
        handoffs = std::make_unique<HandoffService>(*db, notifier, *sessions, *approvals, cfg.sessions);
        handoffs->install_hooks();
        checkpoints->install_hooks();
        api::add_system_routes(router, {&cfg, db.get(), nullptr, cfg.storage.root_dir});
        api::add_auth_routes(router, *auth, false);
        api::add_user_routes(router, *users);
        api::add_audit_routes(router, *audit);
        api::add_item_routes(router, *items);
        api::add_revision_routes(router, *revisions);
        api::add_checkpoint_routes(router, *checkpoints);
        api::add_workstation_routes(router, *workstations);
        api::add_session_routes(router, *sessions);
        api::add_handoff_routes(router, *handoffs, *sessions);
        api::add_workflow_routes(router, *approvals);
        api::add_approval_routes(router, *approvals);
    }
    static App& app();

    std::string dir;
    Config cfg;
    std::unique_ptr<sql::Database> db;
    PasswordHasher hasher;
    NullNotifier notifier;
    std::unique_ptr<AuthService> auth;
    std::unique_ptr<UserService> users;
    std::unique_ptr<AuditService> audit;
    std::unique_ptr<ItemService> items;
    std::unique_ptr<WorkstationService> workstations;
    std::unique_ptr<SessionService> sessions;
    std::unique_ptr<ApprovalService> approvals;
    std::unique_ptr<BlobStore> blobs;
    std::unique_ptr<RevisionService> revisions;
    std::unique_ptr<CheckpointService> checkpoints;
    std::unique_ptr<HandoffService> handoffs;
    http::Router router;
};

App& App::app() {
    static App* a = new App();  // never destroyed: the atexit hook removes its folder
    return *a;
}

App& app() { return App::app(); }

void check_answer(const http::HttpResponse& r) {
    // 507: /dev/shm filled up over a long run (the state grows); a clear answer, not a bug.
    if (r.status < 100 || (r.status >= 500 && r.status != 507)) __builtin_trap();
    if (r.status >= 400) {
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (!j.is_object() || !j.contains("error") || !j["error"].is_string() || !j.contains("message")) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    App& a = app();
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    bool bad = false;
    const std::size_t end = http::find_head_end(bytes, bad);
    if (end == 0 || !http::check_request_head(bytes.substr(0, end)).ok()) return 0;

    // Beast reads the checked head and the body that follows (Content-Length or chunked).
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(1 << 20);
    parser.eager(true);
    boost::beast::error_code ec;
    const auto start = bytes.find_first_not_of("\r\n");
    parser.put(boost::asio::buffer(bytes.data() + start, bytes.size() - start), ec);
    if (ec || !parser.is_done()) return 0;  // malformed, or a body that did not arrive whole

    http::HttpRequest req;
    req.request_id = "fuzz";
    req.remote_addr = "127.0.0.1";
    if (auto st = http::read_request_head(parser.get(), {}, req); !st.ok()) {
        check_answer(http::HttpResponse::error(st.error()));
        return 0;
    }
    auto match = a.router.match(req.method, req.path);
    if (!match.route) {
        check_answer(http::Router::reject(match));
        return 0;
    }
    // The routes that run Argon2id (64 MiB, ~100 ms a hash) would starve the fuzzer: their
    // bodies are fuzzed by fuzz_json_body, their rules by the integration tests.
    const auto& pattern = match.route->pattern;
    if (pattern == "/login" || (pattern.rfind("/api/admin/users", 0) == 0 && req.method != "GET")) return 0;
    const std::string& body = parser.get().body();
    if (match.route->body == http::BodyKind::upload) {
        // The server streams an upload into a temporary file under the store's tmp/.
        fs::create_directories(a.cfg.storage.root_dir + "/tmp");
        req.body_file = a.cfg.storage.root_dir + "/tmp/fuzz-upload";
        std::ofstream(req.body_file, std::ios::binary).write(body.data(), static_cast<std::streamsize>(body.size()));
        req.body_size = static_cast<std::int64_t>(body.size());
    } else {
        req.body = body;
    }
    check_answer(a.router.handle(match, req));
    std::error_code rm;
    fs::remove(a.cfg.storage.root_dir + "/tmp/fuzz-upload", rm);
    return 0;
}
