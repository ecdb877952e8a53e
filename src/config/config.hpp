// Typed, validated configuration (API.md §10). Built from compiled-in defaults, then an
// optional YAML file, then SILO_* environment variables (env wins over the file).
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace silo {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0 picks a free port
    bool read_only = false;
    std::int64_t max_json_bytes = 1048576;
    std::int64_t max_upload_bytes = 1073741824;
    // Beyond API.md §10 (docs/architecture.md): connection limits and timeouts.
    int header_timeout_seconds = 20;     // the whole request head, from its first byte
    int body_idle_timeout_seconds = 60;  // a request body that stops arriving
    int keepalive_timeout_seconds = 60;  // a connection waiting for its next request
    int max_connections = 4096;          // request connections; event streams do not count
    int max_header_fields = 100;
};

struct DatabaseConfig {
    std::string driver = "sqlite";  // sqlite | postgres
    std::string path = "./data/silo.db";
    std::string url;  // postgresql://... (secret: masked by --print-config)
};

struct StorageConfig {
    std::string root_dir = "./data/files";
    // Files in the store that no row names (a crash between writing a file and committing its
    // row) are removed once older than this; younger ones may be uploads still in flight.
    int orphan_grace_minutes = 60;
};

struct SchemasConfig {
    std::string directory = "./schemas";
};

struct WorkflowsConfig {
    std::string directory = "./workflows";
};

struct AuthConfig {
    bool enabled = true;
    std::string default_admin_username = "admin";
    std::string default_admin_password;  // secret
};

struct EventsConfig {
    int heartbeat_seconds = 30;
    int retention_hours = 168;
    int queue_limit = 1024;
    int max_streams_per_user = 1000;
    int stall_timeout_seconds = 60;  // a stream whose socket takes nothing this long is closed
};

struct ApprovalsConfig {
    bool allow_self_approval = false;
};

struct SessionsModuleConfig {
    bool enabled = true;
    int session_timeout_minutes = 15;
    int disconnect_grace_seconds = 60;
    int sweep_interval_seconds = 30;
    bool force_release_requires_approval = false;
    std::string force_release_workflow = "session-override";
    int checkpoint_ttl_hours = 168;
    int checkpoint_max_per_item = 5;
};

struct Config {
    ServerConfig server;
    DatabaseConfig database;
    StorageConfig storage;
    SchemasConfig schemas;
    WorkflowsConfig workflows;
    AuthConfig auth;
    EventsConfig events;
    ApprovalsConfig approvals;
    SessionsModuleConfig sessions;  // modules.sessions

    // Warnings gathered while loading (ignored SILO_* variables, ...), logged at start.
    std::vector<std::string> warnings;
};

// Loads the configuration. path empty: defaults only. env: the process environment as
// name -> value (only SILO_* names are looked at). Fails with one line that names the file
// and key for unknown keys, wrong types and impossible values.
Result<Config> load_config(const std::string& path, const std::map<std::string, std::string>& env);

// The environment of this process as a map (SILO_* entries only).
std::map<std::string, std::string> silo_environment();

// The effective configuration as JSON with the same shape as the YAML file; secrets (the
// admin password, the password inside database.url) are masked as "***".
nlohmann::json config_to_json(const Config& c, bool mask_secrets = true);

}  // namespace silo
