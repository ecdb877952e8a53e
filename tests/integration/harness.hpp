// Integration-test harness: starts the real silod binary on port 0 in a temporary folder and
// talks HTTP to it over plain sockets (no code shared with the server).
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace silo::itest {

using nlohmann::json;

enum class Db { sqlite, postgres };
std::string db_name(Db d);

// True when the PostgreSQL tests can run (SILO_TEST_PG_URL set). When it is not set and
// SILO_TEST_REQUIRE_PG=1, PostgreSQL tests fail instead of skipping.
bool postgres_configured();
// A new empty database on the test cluster; returns its URL.
std::string create_pg_database();

struct HttpResult {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    json js() const;  // parsed body (discarded value when not JSON)
    std::string header(const std::string& name) const;
};

// One keep-alive HTTP/1.1 connection (reconnects when the server closed it).
class HttpClient {
public:
    explicit HttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~HttpClient();
    HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                       std::map<std::string, std::string> headers = {});
    HttpResult get(const std::string& target) { return request("GET", target); }
    HttpResult post_json(const std::string& target, const json& body) {
        return request("POST", target, body.dump(), {{"Content-Type", "application/json"}});
    }
    HttpResult put_json(const std::string& target, const json& body) {
        return request("PUT", target, body.dump(), {{"Content-Type", "application/json"}});
    }
    HttpResult del(const std::string& target) { return request("DELETE", target); }

    // Default headers sent with every request (Authorization, ...).
    std::map<std::string, std::string> default_headers;

private:
    void connect();
    int port_;
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
};

// Sends raw bytes on a fresh connection and reads one response (status 0 if the server
// closed the connection without answering).
HttpResult raw_request(int port, const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Reads one HTTP response from a connected socket (used by the client and raw_request).
std::optional<HttpResult> read_response(int fd, std::string& buffer);

// Connects a TCP socket to 127.0.0.1:port with send/receive timeouts; -1 on failure.
int connect_local(int port, std::chrono::milliseconds timeout);

struct Login {
    std::string cookie;  // "silo_session=..."
    std::string csrf;
};
// POST /login; throws unless 200.
Login login(int port, const std::string& user, const std::string& password);
// An API token for a user, made through the browser login (cookie + CSRF).
std::string token_for(int port, const std::string& user, const std::string& password);

struct ServerOptions {
    Db db = Db::sqlite;
    std::string extra_yaml;  // appended to the generated config file
    std::map<std::string, std::string> env;
    bool auth_enabled = false;
    std::string pg_url;       // reuse a database (several instances); empty: create one
    std::string data_dir;     // reuse a data folder (restart); empty: a new temp dir
};

class ServerProcess {
public:
    // Starts build/silod with a generated config (port 0) and waits until it listens.
    static std::unique_ptr<ServerProcess> start(const ServerOptions& options);
    ~ServerProcess();

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    const std::string& pg_url() const { return pg_url_; }
    std::string log() const;
    bool alive();
    // Sends sig and waits (bounded) for the exit; returns the exit status (-1 on timeout /
    // signal death as -signal).
    int stop(int sig = 15, std::chrono::seconds wait = std::chrono::seconds(30));
    HttpClient client() const { return HttpClient(port_); }
    // Runs SQL directly against the server's database (tamper tests); returns the first
    // column of each row as text.
    std::vector<std::string> sql(const std::string& statement) const;
    std::string config_path() const { return dir_ + "/silod.yaml"; }

private:
    ServerProcess() = default;
    pid_t pid_ = -1;
    int port_ = 0;
    Db db_ = Db::sqlite;
    std::string dir_;
    std::string log_path_;
    std::string pg_url_;
    bool owns_dir_ = true;
};

// Runs `silod args...` to completion (for --help, --print-config, bad configs); returns the
// exit code and combined output.
struct CommandResult {
    int exit_code = -1;
    std::string output;
};
CommandResult run_silod(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                        const std::string& cwd = "");

std::string make_temp_dir(const std::string& prefix);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
// Number of open file descriptors of a process.
int count_fds(pid_t pid);

}  // namespace silo::itest
