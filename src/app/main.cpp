// The composition root: parse the command line, load the configuration, open storage, wire
// services to routes, serve until SIGINT/SIGTERM. Operator subcommands (user, token) share
// the same configuration and database without starting the server.
#include "api/routes.hpp"
#include "auth/auth_service.hpp"
#include "auth/password.hpp"
#include "config/config.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "domain/part_number.hpp"
#include "domain/workflow.hpp"
#include "http/server.hpp"
#include "service/approval_service.hpp"
#include "service/audit_service.hpp"
#include "service/checkpoint_service.hpp"
#include "service/item_service.hpp"
#include "service/revision_service.hpp"
#include "service/events.hpp"
#include "service/handoff_service.hpp"
#include "service/user_service.hpp"
#include "service/workstation_service.hpp"
#include "storage/blob_store.hpp"
#include "storage/event_listener.hpp"
#include "events/hub.hpp"
#include "storage/sql.hpp"

#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

namespace fs = std::filesystem;
using namespace silo;

namespace {

// Raises the open-file soft limit to the hard limit: every event stream is a socket.
void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    auto soft = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    bool ok = setrlimit(RLIMIT_NOFILE, &rl) == 0;
    log::info("open-file limit", {{"soft_before", soft}, {"soft", ok ? rl.rlim_max : soft}, {"hard", rl.rlim_max}});
}

// A default data folder (schemas/, workflows/) that is missing under the working directory is
// looked up beside the binary (build/silod -> ../schemas), so the binary runs from anywhere.
std::string resolve_default_dir(const std::string& configured, const std::string& default_value) {
    std::error_code ec;
    if (configured != default_value || fs::is_directory(configured, ec)) return configured;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return configured;
    auto name = fs::path(default_value).filename();
    for (auto dir : {exe.parent_path().parent_path() / name, exe.parent_path() / name})
        if (fs::is_directory(dir, ec)) return dir.string();
    return configured;
}

int fail(const std::string& line) {
    std::cerr << "silod: " << line << std::endl;
    return 2;
}

// The first admin: from auth.local.default_admin_* (or SILO_ADMIN_*), idempotent. On a first
// start with no users and no configured password, a random password is generated and written
// to <storage.root_dir>/initial-admin-password (mode 0600): never into the log.
Status ensure_first_admin(const Config& cfg, UserService& users) {
    std::string password = cfg.auth.default_admin_password;
    bool generated = false;
    if (password.empty()) {
        SILO_TRY(auto n, users.count());
        if (n > 0) return {};
        password = secure_random_hex(12);
        generated = true;
    }
    auto made = users.ensure_admin(cfg.auth.default_admin_username, password);
    if (!made) return Error(made.error().code, "auth.local.default_admin_password: " + made.error().message);
    if (!*made) return {};
    nlohmann::json fields = {{"username", cfg.auth.default_admin_username}};
    if (generated) {
        auto path = (fs::path(cfg.storage.root_dir) / "initial-admin-password").string();
        {
            std::ofstream out(path, std::ios::trunc);
            out << password << "\n";
        }
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
        fields["password_file"] = path;
    }
    log::info("created the first admin", fields);
    return {};
}

// Tells the hub about committed events once it exists (services are built before it).
// Wakes the hub after a commit that appended events, unless PostgreSQL's NOTIFY (which
// reaches every instance, this one included) is about to do it anyway.
struct HubNotifier final : EventNotifier {
    EventHub* hub = nullptr;
    const EventListener* listener = nullptr;
    void committed() override {
        if (!hub || (listener && listener->listening())) return;
        // Read the log on this thread, once the answer of its request is out.
        http::after_response([h = hub] { h->poke_here(); });
    }
};

struct OperatorArgs {
    std::string username, role = "viewer", display_name, email, token_name = "cli";
    int expires_in_days = 0;
};

std::string read_password_from_stdin() {
    if (isatty(0)) std::cerr << "password: " << std::flush;
    std::string pw;
    std::getline(std::cin, pw);
    return pw;
}

// `silod user ...` and `silod token create`: operator commands without HTTP.
int run_operator_command(CLI::App& app, const OperatorArgs& a, UserService& users, AuthService& auth) {
    auto report = [](const Error& e) { return fail(e.message); };
    if (auto* user = app.get_subcommand("user"); user->parsed()) {
        if (user->get_subcommand("add")->parsed()) {
            NewUser nu;
            nu.username = a.username;
            auto role = parse_role(a.role);
            if (!role) return fail("role must be one of viewer, editor, admin");
            nu.role = *role;
            nu.display_name = a.display_name;
            nu.email = a.email;
            nu.password = read_password_from_stdin();
            auto r = users.create(system_principal("cli"), nu);
            if (!r) return report(r.error());
            std::cout << "created user " << r->username << " (" << role_name(r->role) << ")" << std::endl;
            return 0;
        }
        UserPatch patch;
        if (user->get_subcommand("set-role")->parsed()) {
            auto role = parse_role(a.role);
            if (!role) return fail("role must be one of viewer, editor, admin");
            patch.role = *role;
        } else if (user->get_subcommand("deactivate")->parsed()) {
            patch.active = false;
        } else if (user->get_subcommand("activate")->parsed()) {
            patch.active = true;
        } else if (user->get_subcommand("set-password")->parsed()) {
            patch.password = read_password_from_stdin();
        }
        auto r = users.update(system_principal("cli"), a.username, patch);
        if (!r) return report(r.error());
        std::cout << "updated user " << r->username << ": role " << role_name(r->role)
                  << (r->active ? ", active" : ", deactivated") << std::endl;
        return 0;
    }
    std::optional<int> days;
    if (a.expires_in_days > 0) days = a.expires_in_days;
    auto t = auth.create_token_for(a.username, a.token_name, days, "cli");
    if (!t) return report(t.error());
    std::cout << t->secret << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"silod: CAD part-management server (items, edit sessions, live events)"};
    std::string config_path;
    bool print_config = false, print_routes = false, version = false;
    OperatorArgs op;
    app.add_option("-c,--config", config_path, "YAML configuration file (optional)");
    app.add_flag("--print-config", print_config, "print the effective configuration (secrets masked) and exit");
    app.add_flag("--print-routes", print_routes, "print the route table as JSON and exit");
    app.add_flag("-V,--version", version, "print the version and exit");
    auto* user_cmd = app.add_subcommand("user", "manage users without HTTP");
    user_cmd->require_subcommand(1);
    auto* add = user_cmd->add_subcommand("add", "create a user (password read from standard input)");
    add->add_option("username", op.username)->required();
    add->add_option("--role", op.role, "viewer, editor or admin")->capture_default_str();
    add->add_option("--display-name", op.display_name);
    add->add_option("--email", op.email);
    auto* set_role = user_cmd->add_subcommand("set-role", "change a user's role");
    set_role->add_option("username", op.username)->required();
    set_role->add_option("role", op.role)->required();
    user_cmd->add_subcommand("deactivate", "deactivate a user (tokens and sessions stop at once)")
        ->add_option("username", op.username)->required();
    user_cmd->add_subcommand("activate", "re-activate a user")->add_option("username", op.username)->required();
    user_cmd->add_subcommand("set-password", "set a user's password (read from standard input)")
        ->add_option("username", op.username)->required();
    auto* token_cmd = app.add_subcommand("token", "manage API tokens without HTTP");
    token_cmd->require_subcommand(1);
    auto* token_create = token_cmd->add_subcommand("create", "create an API token and print it once");
    token_create->add_option("--user", op.username, "owner of the token")->required();
    token_create->add_option("--name", op.token_name, "a label for the token")->capture_default_str();
    token_create->add_option("--expires-in-days", op.expires_in_days, "0: never");
    CLI11_PARSE(app, argc, argv);
    bool operator_command = user_cmd->parsed() || token_cmd->parsed();

    if (version) {
        std::cout << "silod " << SILO_VERSION << std::endl;
        return 0;
    }
    auto cfg_r = load_config(config_path, silo_environment());
    if (!cfg_r) return fail(cfg_r.error().message);
    Config cfg = std::move(*cfg_r);
    cfg.schemas.directory = resolve_default_dir(cfg.schemas.directory, Config{}.schemas.directory);
    cfg.workflows.directory = resolve_default_dir(cfg.workflows.directory, Config{}.workflows.directory);
    if (print_config) {
        std::cout << config_to_json(cfg, true).dump(2) << std::endl;
        return 0;
    }

    auto schemas = load_schemas(cfg.schemas.directory);
    if (!schemas) return fail(schemas.error().message);
    // A bad workflow file stops start-up; the message names the file and the field.
    auto workflows = load_workflows(cfg.workflows.directory);
    if (!workflows) return fail("workflows: " + workflows.error().message);

    if (cfg.sessions.force_release_requires_approval && !workflows->count(cfg.sessions.force_release_workflow))
        return fail("modules.sessions.force_release_workflow: no workflow named '" + cfg.sessions.force_release_workflow +
                    "' in " + cfg.workflows.directory);

    // --print-routes wires the same services against an unused in-memory database.
    bool serve = !print_routes && !operator_command;
    if (serve) {
        log::init();
        for (const auto& w : cfg.warnings) log::warn(w);
        raise_fd_limit();
        std::vector<std::string> names;
        for (const auto& [name, wf] : *workflows) names.push_back(name);
        if (names.empty())
            log::warn("no workflows loaded: approvals cannot be created", {{"directory", cfg.workflows.directory}});
        else
            log::info("loaded workflows", {{"directory", cfg.workflows.directory}, {"workflows", names}});
    } else {
        log::init(log::Level::warn);
    }

    // Everything the configuration can get wrong fails here, before the database is touched
    // (migrated, first admin created): the file store must take files, the address must bind.
    if (serve) {
        std::error_code ec;
        fs::create_directories(cfg.storage.root_dir, ec);
        if (ec) return fail("storage.root_dir: cannot create " + cfg.storage.root_dir + ": " + ec.message());
        if (auto st = probe_writable(cfg.storage.root_dir); !st.ok()) return fail("storage.root_dir: " + st.error().message);
    }
    http::Router router;
    http::ServerOptions so;
    so.host = cfg.server.host;
    so.port = cfg.server.port;
    so.max_json_bytes = cfg.server.max_json_bytes;
    so.max_upload_bytes = cfg.server.max_upload_bytes;
    so.upload_dir = (fs::path(cfg.storage.root_dir) / "tmp").string();
    so.workers = std::max(8u, 2 * std::thread::hardware_concurrency());
    so.stream_queue_limit = static_cast<std::size_t>(cfg.events.queue_limit);
    so.stream_stall_seconds = cfg.events.stall_timeout_seconds;
    so.header_timeout_seconds = cfg.server.header_timeout_seconds;
    so.body_idle_timeout_seconds = cfg.server.body_idle_timeout_seconds;
    so.keepalive_timeout_seconds = cfg.server.keepalive_timeout_seconds;
    so.max_connections = static_cast<std::size_t>(cfg.server.max_connections);
    so.max_header_fields = static_cast<std::size_t>(cfg.server.max_header_fields);
    http::Server server(so, router);
    std::uint16_t port = 0;
    if (serve) {
        auto bound = server.bind();
        if (!bound) return fail(bound.error().message);
        port = *bound;
    }

    sql::DatabaseOptions dbo;
    dbo.dialect = cfg.database.driver == "postgres" && !print_routes ? sql::Dialect::postgres : sql::Dialect::sqlite;
    dbo.sqlite_path = print_routes ? ":memory:" : cfg.database.path;
    dbo.postgres_url = cfg.database.url;
    auto db_r = sql::open_database(dbo);
    if (!db_r) return fail("database: " + db_r.error().message);
    std::unique_ptr<sql::Database> db = std::move(*db_r);
    if (!print_routes) {
        if (auto st = db->migrate(); !st.ok()) return fail("database migration failed: " + st.error().message);
    }

    PasswordHasher hasher;
    AuthService auth(*db, hasher);
    UserService users(*db, hasher);
    AuditService audit(*db);
    HubNotifier notifier;
    ItemService items(*db, notifier, std::move(*schemas));
    WorkstationService workstations(*db);
    SessionService sessions(*db, notifier, cfg.sessions, (fs::path(cfg.storage.root_dir) / "work").string());
    ApprovalService approvals(*db, notifier, std::move(*workflows), cfg.approvals.allow_self_approval);
    BlobStore blobs(cfg.storage.root_dir);
    RevisionService revisions(*db, notifier, blobs, cfg.storage.orphan_grace_minutes);
    CheckpointService checkpoints(*db, notifier, blobs, sessions, cfg.sessions, cfg.storage.orphan_grace_minutes);
    HandoffService handoffs(*db, notifier, sessions, approvals, cfg.sessions);
    handoffs.install_hooks();
    checkpoints.install_hooks();

    if (operator_command) return run_operator_command(app, op, users, auth);

    if (serve) {
        if (cfg.auth.enabled) {
            auto st = ensure_first_admin(cfg, users);
            if (!st.ok()) return fail(st.error().message);
        } else {
            log::warn("authentication is disabled (auth.enabled: false): every request runs as admin");
        }
    }

    router.read_only = cfg.server.read_only;
    if (cfg.auth.enabled) {
        router.authenticate = [&auth](http::HttpRequest& req) {
            return auth.authenticate(req.header("authorization"), req.header("cookie"));
        };
        router.authorize_write = [&auth](const http::Route&, const http::HttpRequest& req) {
            return auth.check_csrf(req.principal, req.header("x-csrf-token"));
        };
    }

    DatabaseEventSource event_source(*db);
    EventHub::Options ho;
    ho.queue_limit = static_cast<std::size_t>(cfg.events.queue_limit);
    ho.post_io = [&server](std::function<void()> fn) { server.post_io(std::move(fn)); };
    ho.post_work = [&server](std::function<void()> fn) { server.post_work(std::move(fn)); };
    ho.workstation_connected = [&](const std::string& ws) {
        server.post_work([&workstations, &sessions, ws] {
            workstations.seen({ws});
            sessions.heartbeat({ws});
        });
    };
    ho.workstation_disconnected = [&](const std::string& ws) {
        server.post_work([&workstations, ws] { workstations.disconnected(ws); });
    };
    ho.still_admitted = [&users, &workstations, auth_on = cfg.auth.enabled](const std::string& user_id,
                                                                             const std::string& ws) {
        // A failed read keeps the stream: closing healthy streams on a database hiccup is worse.
        // Without auth every request runs as a synthetic admin that has no row.
        if (auth_on) {
            auto active = users.active(user_id);
            if (active.ok() && !*active) return false;
        }
        if (ws.empty()) return true;
        auto known = workstations.exists(ws);
        return !known.ok() || *known;
    };
    EventHub hub(ho, event_source);
    if (!print_routes) {
        try {
            hub.start();
        } catch (const std::exception& e) {
            return fail(std::string("cannot read the event log: ") + e.what());
        }
    }
    notifier.hub = &hub;
    workstations.online = [&hub](const std::string& ws) { return hub.workstation_online(ws); };
    // A stream on another instance refreshes the presence row at least every heartbeat.
    const Millis presence_fresh = 2 * static_cast<Millis>(cfg.events.heartbeat_seconds) * 1000;
    handoffs.connected = [&workstations, presence_fresh](const std::string& ws) {
        return workstations.connected(ws, presence_fresh);
    };
    // A deactivated user's or deleted workstation's streams close and its sessions end.
    users.on_deactivated = [&hub, &sessions](const UserRecord& u) {
        hub.close_user(u.id);
        sessions.release_user(u.id, "system");
    };
    workstations.on_removed = [&hub, &sessions](const WorkstationRecord& w) {
        hub.close_workstation(w.id);
        sessions.release_workstation(w.id, "system");
    };

    api::add_system_routes(router, {&cfg, db.get(), &server, cfg.storage.root_dir});
    api::add_auth_routes(router, auth, cfg.auth.enabled);
    api::add_user_routes(router, users);
    api::add_audit_routes(router, audit);
    api::add_item_routes(router, items);
    api::add_revision_routes(router, revisions);
    api::add_checkpoint_routes(router, checkpoints);
    api::add_workstation_routes(router, workstations);
    api::add_session_routes(router, sessions);
    api::add_handoff_routes(router, handoffs, sessions);
    api::add_workflow_routes(router, approvals);
    api::add_approval_routes(router, approvals);
    api::EventsContext ec;
    ec.hub = &hub;
    ec.items = &items;
    ec.workstations = &workstations;
    ec.max_streams_per_user = cfg.events.max_streams_per_user;
    ec.held_sessions = [&sessions](const std::string& ws) { return sessions.held_sessions(ws); };
    api::add_event_routes(router, ec);

    if (print_routes) {
        std::cout << router.describe().dump(2) << std::endl;
        return 0;
    }

    // Heartbeats refresh presence; a poll every second backs up local and NOTIFY wake-ups.
    server.every(cfg.events.heartbeat_seconds, [&] {
        auto online = hub.heartbeat();
        server.post_work([&workstations, &sessions, online = std::move(online)] {
            workstations.seen(online);
            sessions.heartbeat(online);
        });
    });
    if (cfg.sessions.enabled)
        server.every(cfg.sessions.sweep_interval_seconds, [&] { server.post_work([&sessions] { sessions.sweep(); }); });
    // Expired and over-cap checkpoints, and files no row names (a crash between a file and
    // its row): once at start, before the server listens (so nothing it serves is about to be
    // swept), then every minute.
    auto sweep_files = [&checkpoints, &revisions, &sessions, &cfg] {
        checkpoints.sweep();
        revisions.sweep();
        sessions.sweep_work_files(now_millis() - static_cast<Millis>(cfg.storage.orphan_grace_minutes) * 60 * 1000);
    };
    sweep_files();
    server.every(60.0, [&server, sweep_files] { server.post_work(sweep_files); });
    server.every(1.0, [&hub] { hub.poke(); });
    // Events older than the retention window: pruned once at start (a server that was down
    // for a while does not serve them), then every minute.
    const Millis retention = static_cast<Millis>(cfg.events.retention_hours) * 3600 * 1000;
    auto prune_events = [&event_source, retention] {
        try {
            if (auto n = event_source.prune(now_millis() - retention)) log::info("pruned old events", {{"count", n}});
        } catch (const std::exception& e) {
            log::warn("pruning events failed", {{"what", e.what()}});
        }
    };
    prune_events();
    server.every(60.0, [&server, prune_events] { server.post_work(prune_events); });
    auto listener = start_event_listener(dbo, [&hub] { hub.poke_here(); });
    notifier.listener = listener.get();

    if (auto st = server.listen(); !st.ok()) return fail(st.error().message);
    log::info("listening", {{"host", cfg.server.host},
                            {"port", port},
                            {"database", cfg.database.driver},
                            {"auth", cfg.auth.enabled},
                            {"pid", static_cast<long>(getpid())}});
    server.run();
    db->close();
    log::info("stopped");
    return 0;
}
