// Integration-test harness: starts the real silod binary on port 0 in a temporary folder and
// talks HTTP to it over plain sockets (no code shared with the server).
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdlib>

#include <chrono>
#include <cstdint>
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
// In a fixture's SetUp: a PostgreSQL case without a configured cluster skips, or fails when
// SILO_TEST_REQUIRE_PG is set (scripts/silo test sets it, so CI never skips silently).
#define SILO_REQUIRE_DATABASE(db)                                                   \
    do {                                                                            \
        if ((db) == ::silo::itest::Db::postgres && !::silo::itest::postgres_configured()) { \
            if (std::getenv("SILO_TEST_REQUIRE_PG")) {                              \
                FAIL() << "SILO_TEST_PG_URL is not set";                            \
            } else {                                                                \
                GTEST_SKIP() << "SILO_TEST_PG_URL is not set";                      \
            }                                                                       \
        }                                                                           \
    } while (0)

// A new empty database on the test cluster; returns its URL.
std::string create_pg_database();

struct HttpResult {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    json js() const;  // parsed body (discarded value when not JSON)
    std::string header(const std::string& name) const;
};

// Adds a test failure unless an error answer (4xx/5xx, not to HEAD) carries the envelope of
// API.md §0 with the code that goes with its status. HttpClient checks every answer.
void check_error_envelope(const std::string& method, const std::string& target, const HttpResult& r);
// Adds a test failure unless the answer carries the security headers of docs/security.md
// (X-Content-Type-Options, Referrer-Policy, X-Frame-Options, Content-Security-Policy).
// HttpClient checks every answer.
void check_security_headers(const std::string& method, const std::string& target, const HttpResult& r);

// One keep-alive HTTP/1.1 connection. A connection the server closed while idle is replaced
// before the next request; a request is sent once, and a connection that drops or stays
// silent (timeout) after it throws: the test fails instead of silently sending it again.
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

// Reads one HTTP response from a connected socket (used by the client and raw_request); the
// answer to a HEAD request (head_request) has no body.
std::optional<HttpResult> read_response(int fd, std::string& buffer, bool head_request = false);

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

// A client that sends `Authorization: Bearer <token>` (none when token is empty).
HttpClient as(int port, const std::string& token);

struct ServerOptions {
    Db db = Db::sqlite;
    std::string extra_yaml;  // appended to the generated config file
    std::map<std::string, std::string> env;
    bool auth_enabled = false;
    std::string pg_url;       // reuse a database (several instances); empty: create one
    std::string data_dir;     // reuse a data folder (restart); empty: a new temp dir
    std::string sqlite_path;  // SQLite's file somewhere else; empty: silo.db in the data folder
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
    std::string sqlite_path_;
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
// Connections of process pid on its local `port` (accepted clients; not the listener, not its
// own connections to a database).
int count_connections(pid_t pid, int port);

// ---------------------------------------------------------------------------------------------
// Server-Sent Events (issue 4)

// One SSE frame as received.
struct SseEvent {
    std::optional<std::int64_t> id;  // the `id:` line as a number (absent, or not a number: none)
    bool has_id_line = false;        // an `id:` line was present (even an empty or odd one)
    std::string event = "message";   // the `event:` line (SSE default "message")
    std::string data;                // the `data:` lines joined with "\n"
    std::string raw;                 // the frame's lines as received, each ending in "\n"
    json js() const;                 // data parsed (discarded value when not JSON)
};

// A plain-socket SSE client: sends `GET target` with `Accept: text/event-stream` (plus the
// given headers, e.g. Authorization, Last-Event-ID), reads the response head, then parses
// frames as they arrive (partial reads, several frames per read, comments, multi-line data,
// CRLF / LF / CR line ends, chunked or until-close bodies). Nothing here blocks past its
// timeout. Not thread-safe: one thread uses one client.
class SseClient {
public:
    SseClient(int port, const std::string& target, std::map<std::string, std::string> headers = {},
              std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5));
    ~SseClient();
    SseClient(const SseClient&) = delete;
    SseClient& operator=(const SseClient&) = delete;

    // Response status (0: no response within the handshake timeout / connection failed).
    int status() const { return status_; }
    const std::map<std::string, std::string>& headers() const { return headers_; }  // lower-case names
    std::string header(const std::string& name) const;
    // The body of a non-200 answer (the error envelope), read to its end.
    const std::string& error_body() const { return error_body_; }
    json error() const { return json::parse(error_body_, nullptr, false); }

    // The next frame within timeout; heartbeat frames are passed over unless asked for.
    // nullopt on timeout or when the server closed the stream (see eof()).
    std::optional<SseEvent> next(std::chrono::milliseconds timeout, bool skip_heartbeats = true);
    // Every frame that arrives within the window (stops early at end of stream).
    std::vector<SseEvent> collect(std::chrono::milliseconds window, bool skip_heartbeats = true);
    // Reads (keeping the frames for next()) until the server ends the stream (EOF or reset);
    // true if it did within timeout.
    bool closed_by_server(std::chrono::milliseconds timeout);
    bool eof() const { return eof_; }      // the server closed (or reset) the connection
    bool reset() const { return reset_; }  // it was a reset
    int heartbeats_seen() const { return heartbeats_; }
    std::size_t bytes_received() const { return bytes_; }
    std::size_t queued() const { return frames_.size(); }  // parsed, not yet returned
    // Closes our end (no more reads).
    void close();
    bool open() const { return fd_ >= 0; }
    // The socket (-1 once closed): e.g. to shut it down as a lost network would, or for a
    // forked process to own.
    int fd() const { return fd_; }

private:
    bool read_some(std::chrono::steady_clock::time_point deadline);  // false: timeout or EOF
    void decode();                                                   // raw_ -> body_ -> frames_
    bool take_line(std::string& line);

    int fd_ = -1;
    int status_ = 0;
    std::map<std::string, std::string> headers_;
    std::string error_body_;
    bool chunked_ = false;
    bool eof_ = false;
    bool reset_ = false;
    bool chunks_done_ = false;
    int heartbeats_ = 0;
    std::size_t bytes_ = 0;
    std::string raw_;   // undecoded body bytes (chunked framing)
    std::string body_;  // event-stream text not yet parsed into frames
    // The frame being built.
    SseEvent cur_;
    std::vector<std::string> cur_data_;
    bool cur_any_ = false;
    std::vector<SseEvent> frames_;  // parsed frames, oldest first
    std::size_t frames_pos_ = 0;
};

// A stream whose reader never reads: a socket with a small receive buffer (set before
// connecting), the GET sent, the answer left unread. Returns the fd (caller closes) or -1.
int open_stalled_stream(int port, const std::string& target, const std::map<std::string, std::string>& headers,
                        int rcvbuf = 4096);
// Reads and discards from fd until the peer closes or resets it, within timeout and at most
// max_bytes. closed: the end was seen; bytes: how many were read.
struct DrainResult {
    bool closed = false;
    bool reset = false;
    std::size_t bytes = 0;
    std::string data;  // what was read, when asked for (keep)
};
DrainResult drain_until_closed(int fd, std::chrono::milliseconds timeout, std::size_t max_bytes = 256u << 20,
                               bool keep = false);

// A child process (not silod) with stdout and stderr in files; killed by its pid when the
// object goes away while it still runs.
class ChildProcess {
public:
    static std::unique_ptr<ChildProcess> start(const std::vector<std::string>& args,
                                               const std::map<std::string, std::string>& env = {});
    ~ChildProcess();
    pid_t pid() const { return pid_; }
    // The exit code once it exits within timeout (-signal when a signal ended it); nullopt while
    // it still runs.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    // SIGKILL by pid and reap.
    void kill();
    std::string out() const;
    std::string err() const;

private:
    ChildProcess() = default;
    pid_t pid_ = -1;
    std::optional<int> exit_;
    std::string dir_;
};

// The absolute path of an executable found on PATH, or "" when there is none.
std::string find_executable(const std::string& name);

}  // namespace silo::itest
