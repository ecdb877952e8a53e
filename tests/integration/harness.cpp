#include "harness.hpp"
#include "support/test_paths.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace silo::itest {

std::string db_name(Db d) { return d == Db::sqlite ? "sqlite" : "postgres"; }

bool postgres_configured() {
    const char* url = std::getenv("SILO_TEST_PG_URL");
    return url && *url;
}

namespace {
std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 12; ++i) s.push_back(hex[rng() % 16]);
    return s;
}
}  // namespace

std::string create_pg_database() {
    std::string admin = std::getenv("SILO_TEST_PG_URL");
    std::string name = "silo_it_" + random_suffix();
    {
        pqxx::connection c(admin);
        pqxx::nontransaction w(c);
        w.exec("CREATE DATABASE " + name);
    }
    // Replace the database name (the path after the last '/') in the admin URL.
    auto q = admin.find('?');
    std::string base = admin.substr(0, q);
    std::string rest = q == std::string::npos ? "" : admin.substr(q);
    auto slash = base.rfind('/');
    return base.substr(0, slash + 1) + name + rest;
}

json HttpResult::js() const { return json::parse(body, nullptr, false); }

std::string HttpResult::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
}

int connect_local(int port, std::chrono::milliseconds timeout) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

namespace {
// A socket call with a timeout (SO_RCVTIMEO / SO_SNDTIMEO) fails with EINTR when the process
// was stopped (SIGSTOP) and continued, even without a handler (signal(7)): tried again, at
// most a few times.
constexpr int kEintrRetries = 8;

bool send_all(int fd, const std::string& data) {
    size_t off = 0;
    int interrupted = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && ++interrupted <= kEintrRetries) continue;
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

// Reads more bytes into buffer; false on EOF, error or timeout.
bool fill(int fd, std::string& buffer) {
    char tmp[16384];
    ssize_t n;
    int interrupted = 0;
    do {
        n = ::recv(fd, tmp, sizeof tmp, 0);
    } while (n < 0 && errno == EINTR && ++interrupted <= kEintrRetries);
    if (n <= 0) return false;
    buffer.append(tmp, static_cast<size_t>(n));
    return true;
}
}  // namespace

std::optional<HttpResult> read_response(int fd, std::string& buffer, bool head_request) {
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos)
        if (!fill(fd, buffer)) return std::nullopt;
    HttpResult r;
    std::istringstream head(buffer.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    if (line.size() < 12) return std::nullopt;
    r.status = std::atoi(line.c_str() + 9);
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        r.headers[name] = value;
    }
    buffer.erase(0, head_end + 4);
    if (r.status == 100) return read_response(fd, buffer, head_request);
    auto cl = r.headers.find("content-length");
    if (head_request) {
        // The answer to HEAD has a header only, whatever its Content-Length says.
    } else if (cl != r.headers.end()) {
        size_t len = std::stoull(cl->second);
        while (buffer.size() < len)
            if (!fill(fd, buffer)) return std::nullopt;
        r.body = buffer.substr(0, len);
        buffer.erase(0, len);
    } else if (r.status != 204 && r.status != 304) {
        while (fill(fd, buffer)) {
        }
        r.body = std::move(buffer);
        buffer.clear();
    }
    return r;
}

HttpClient::HttpClient(int port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}
HttpClient::~HttpClient() {
    if (fd_ >= 0) ::close(fd_);
}

void HttpClient::connect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = connect_local(port_, timeout_);
    if (fd_ < 0) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port_));
}

void check_security_headers(const std::string& method, const std::string& target, const HttpResult& r) {
    static const std::map<std::string, std::string> kExpected = {
        {"x-content-type-options", "nosniff"},
        {"referrer-policy", "no-referrer"},
        {"x-frame-options", "DENY"},
        {"content-security-policy", "default-src 'none'; frame-ancestors 'none'"},
    };
    for (const auto& [name, value] : kExpected)
        if (r.header(name) != value)
            ADD_FAILURE() << method << " " << target << " -> " << r.status << " without " << name << ": " << value
                          << " (has '" << r.header(name) << "')";
}

void check_error_envelope(const std::string& method, const std::string& target, const HttpResult& r) {
    if (r.status < 400 || method == "HEAD") return;
    // API.md §0: every error is {"error": "<code>", "message": "<one sentence>"}, its code the
    // one that goes with the status.
    static const std::map<int, std::set<std::string>> kCodes = {
        {400, {"bad_request"}},         {401, {"unauthorized"}},
        {403, {"forbidden"}},           {404, {"not_found", "module_disabled"}},
        {405, {"method_not_allowed"}},  {409, {"conflict", "hard_interference"}},
        {413, {"payload_too_large"}},   {414, {"uri_too_long"}},
        {415, {"unsupported_media_type"}}, {429, {"too_many_requests"}},
        {431, {"headers_too_large"}},   {500, {"internal"}},
        {503, {"read_only", "unavailable"}}, {507, {"insufficient_storage"}},
    };
    auto j = r.js();
    auto where = method + " " + target + " -> " + std::to_string(r.status) + " " + r.body.substr(0, 300);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string() || !j.contains("message") ||
        !j["message"].is_string() || j["message"].get<std::string>().empty()) {
        ADD_FAILURE() << "an error answer without the envelope: " << where;
        return;
    }
    auto it = kCodes.find(r.status);
    if (it == kCodes.end() || !it->second.count(j["error"].get<std::string>()))
        ADD_FAILURE() << "an error code that does not go with the status: " << where;
    if (r.header("content-type").rfind("application/json", 0) != 0)
        ADD_FAILURE() << "an error answer that is not application/json: " << where;
}

namespace {
// Whether the server has closed an idle keep-alive connection (EOF waiting to be read). Any
// other byte waiting there would be an answer nobody asked for: that is a server bug.
bool closed_while_idle(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) throw std::runtime_error("the server sent bytes on an idle connection, before any request");
    return true;  // EOF or an error: the connection is gone
}
}  // namespace

HttpResult HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                               std::map<std::string, std::string> headers) {
    for (const auto& [k, v] : default_headers) headers.emplace(k, v);
    std::string msg = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) msg += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
        msg += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    msg += "\r\n" + body;
    // A connection the server closed while it was idle (keep-alive timeout, Connection: close)
    // is replaced before sending. A request is sent once: a connection that drops or stays
    // silent afterwards is a failure of the test, never a silent second attempt (which would
    // hide a dropped connection and could do a write twice).
    if (fd_ >= 0 && closed_while_idle(fd_)) {
        ::close(fd_);
        fd_ = -1;
    }
    if (fd_ < 0) connect();
    std::string buffer;
    // A server may answer (413) before the whole body is sent: read the answer anyway.
    bool sent = send_all(fd_, msg);
    auto r = read_response(fd_, buffer, method == "HEAD");
    if (!r || r->header("connection") == "close") {
        ::close(fd_);
        fd_ = -1;
    }
    if (!r)
        throw std::runtime_error("no response for " + method + " " + target + (sent ? "" : " (the send failed)") +
                                 ": the connection dropped or stayed silent for " +
                                 std::to_string(timeout_.count()) + " ms");
    check_error_envelope(method, target, *r);
    check_security_headers(method, target, *r);
    return *r;
}

HttpResult raw_request(int port, const std::string& bytes, std::chrono::milliseconds timeout) {
    int fd = connect_local(port, timeout);
    if (fd < 0) throw std::runtime_error("cannot connect");
    HttpResult out;
    if (send_all(fd, bytes)) {
        std::string buffer;
        if (auto r = read_response(fd, buffer)) out = *r;
    }
    ::close(fd);
    return out;
}

HttpClient as(int port, const std::string& token) {
    HttpClient c(port);
    if (!token.empty()) c.default_headers["Authorization"] = "Bearer " + token;
    return c;
}

Login login(int port, const std::string& user, const std::string& password) {
    HttpClient c(port);
    auto r = c.post_json("/login", {{"username", user}, {"password", password}});
    if (r.status != 200) throw std::runtime_error("login failed for " + user + ": " + r.body);
    auto set_cookie = r.header("set-cookie");
    Login l;
    l.cookie = set_cookie.substr(0, set_cookie.find(';'));
    l.csrf = r.js()["csrf_token"];
    if (r.header("x-csrf-token") != l.csrf) throw std::runtime_error("csrf header mismatch");
    return l;
}

// An API token for a user, made through the browser login (cookie + CSRF).
std::string token_for(int port, const std::string& user, const std::string& password) {
    auto l = login(port, user, password);
    HttpClient c(port);
    auto r = c.request("POST", "/api/auth/tokens", json{{"name", "test"}}.dump(),
                       {{"Content-Type", "application/json"}, {"Cookie", l.cookie}, {"X-CSRF-Token", l.csrf}});
    if (r.status != 201) throw std::runtime_error("token create failed: " + r.body);
    return r.js()["token"];
}

std::string make_temp_dir(const std::string& prefix) {
    std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

int count_fds(pid_t pid) {
    int n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        ++n;
    return n;
}

int count_connections(pid_t pid, int port) {
    std::set<std::string> inodes;  // TCP sockets on `port` other than the listener
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream ls(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            ls >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            auto colon = local.rfind(':');
            if (colon == std::string::npos || state == "0A") continue;  // 0A: LISTEN
            if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
        }
    }
    int n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        auto target = fs::read_symlink(it->path(), ec).string();
        if (!ec && target.rfind("socket:[", 0) == 0 && inodes.count(target.substr(8, target.size() - 9))) ++n;
        ec.clear();
    }
    return n;
}

namespace {
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& cwd, const std::string& err_path = "") {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    if (err_path.empty()) {
        dup2(fd, 2);
    } else {
        int efd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(efd, 2);
    }
    int null = ::open("/dev/null", O_RDONLY);
    dup2(null, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    // A clean SILO_* environment: only what the test sets.
    for (char** e = environ; *e;) {
        if (std::strncmp(*e, "SILO_", 5) == 0) {
            std::string name(*e, std::strchr(*e, '=') - *e);
            unsetenv(name.c_str());
        } else {
            ++e;
        }
    }
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
}
}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::start(const ServerOptions& o) {
    std::unique_ptr<ServerProcess> p(new ServerProcess());
    p->db_ = o.db;
    if (o.data_dir.empty()) {
        p->dir_ = make_temp_dir("silod-it");
    } else {
        p->dir_ = o.data_dir;
        p->owns_dir_ = false;
    }
    std::string cfg = "server:\n  host: 127.0.0.1\n  port: 0\n";
    if (o.db == Db::postgres) {
        p->pg_url_ = o.pg_url.empty() ? create_pg_database() : o.pg_url;
        cfg += "database:\n  driver: postgres\n  url: \"" + p->pg_url_ + "\"\n";
    } else {
        p->sqlite_path_ = o.sqlite_path.empty() ? p->dir_ + "/silo.db" : o.sqlite_path;
        cfg += "database:\n  driver: sqlite\n  path: " + p->sqlite_path_ + "\n";
    }
    cfg += "storage:\n  root_dir: " + p->dir_ + "/files\n";
    cfg += "schemas:\n  directory: " + silo::test::source_dir() + "/schemas\n";
    cfg += "workflows:\n  directory: " + silo::test::source_dir() + "/workflows\n";
    cfg += std::string("auth:\n  enabled: ") + (o.auth_enabled ? "true" : "false") + "\n";
    cfg += o.extra_yaml;
    write_file(p->dir_ + "/silod.yaml", cfg);
    p->log_path_ = p->dir_ + "/silod-" + std::to_string(std::random_device{}() % 100000) + ".log";
    p->pid_ = spawn({silo::test::silod_binary(), "--config", p->dir_ + "/silod.yaml"}, o.env, p->log_path_, "");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        std::istringstream log(read_file(p->log_path_));
        std::string line;
        while (std::getline(log, line)) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_object() && j.value("msg", "") == "listening") {
                p->port_ = j.value("port", 0);
                return p;
            }
        }
        int status;
        if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
            p->pid_ = -1;
            std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status));
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                how += ": " + silo::test::silod_binary() + " could not be executed (being rebuilt?)";
            throw std::runtime_error("silod exited during start-up (" + how + "):\n" + read_file(p->log_path_));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("silod did not start listening within 30 s:\n" + read_file(p->log_path_));
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(10));
    if (owns_dir_ && !dir_.empty() && !std::getenv("SILO_TEST_KEEP")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::vector<std::string> ServerProcess::sql(const std::string& statement) const {
    std::vector<std::string> out;
    if (db_ == Db::postgres) {
        pqxx::connection c(pg_url_);
        pqxx::work w(c);
        for (const auto& row : w.exec(statement))
            if (row.size() > 0) out.push_back(row[0].is_null() ? "" : row[0].c_str());
        w.commit();
    } else {
        SQLite::Database d(sqlite_path_, SQLite::OPEN_READWRITE);
        d.exec("PRAGMA busy_timeout = 10000");
        SQLite::Statement st(d, statement);
        while (st.executeStep())
            if (st.getColumnCount() > 0) out.push_back(st.getColumn(0).isNull() ? "" : st.getColumn(0).getString());
    }
    return out;
}

std::string ServerProcess::log() const { return read_file(log_path_); }

bool ServerProcess::alive() {
    if (pid_ <= 0) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

int ServerProcess::stop(int sig, std::chrono::seconds wait) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + wait;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            return -WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1000;
}

CommandResult run_silod(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                        const std::string& cwd) {
    auto dir = make_temp_dir("silod-cmd");
    std::vector<std::string> full{silo::test::silod_binary()};
    full.insert(full.end(), args.begin(), args.end());
    pid_t pid = spawn(full, env, dir + "/out", cwd);
    CommandResult r;
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.output = read_file(dir + "/out");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return r;
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events

json SseEvent::js() const { return json::parse(data, nullptr, false); }

namespace {
using Clock = std::chrono::steady_clock;

int ms_until(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

// Waits until fd is readable (or hung up) before deadline.
bool wait_readable(int fd, Clock::time_point deadline) {
    while (true) {
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, ms_until(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

// One non-blocking read after fd was readable: >0 bytes, 0 EOF, -1 reset / error, -2 nothing yet.
ssize_t read_once(int fd, std::string& into) {
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
        into.append(tmp, static_cast<size_t>(n));
        return n;
    }
    if (n == 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -2;
    return -1;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
}  // namespace

SseClient::SseClient(int port, const std::string& target, std::map<std::string, std::string> headers,
                     std::chrono::milliseconds handshake_timeout) {
    auto deadline = Clock::now() + handshake_timeout;
    fd_ = connect_local(port, handshake_timeout);
    if (fd_ < 0) return;
    std::string msg = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool has_accept = false;
    for (const auto& [k, v] : headers) has_accept = has_accept || lower(k) == "accept";
    if (!has_accept) msg += "Accept: text/event-stream\r\n";
    for (const auto& [k, v] : headers) msg += k + ": " + v + "\r\n";
    msg += "\r\n";
    send_all(fd_, msg);  // a server may answer (414) before taking it all: read the answer anyway

    // The response head.
    std::string buf;
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!wait_readable(fd_, deadline)) return;  // status 0: no answer in time
        ssize_t n = read_once(fd_, buf);
        if (n == 0 || n == -1) {
            eof_ = true;
            reset_ = n == -1;
            return;
        }
    }
    bytes_ = buf.size();
    std::istringstream head(buf.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    if (line.size() >= 12) status_ = std::atoi(line.c_str() + 9);
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(value.begin());
        headers_[lower(line.substr(0, colon))] = value;
    }
    buf.erase(0, head_end + 4);
    chunked_ = lower(header("transfer-encoding")).find("chunked") != std::string::npos;
    raw_ = std::move(buf);

    if (status_ != 200) {
        // Read the error body to its end (Content-Length, chunked or until close), bounded.
        auto cl = headers_.find("content-length");
        auto complete = [&] {
            if (cl != headers_.end()) return raw_.size() >= std::stoull(cl->second);
            if (chunked_) {
                decode();
                return chunks_done_;
            }
            return false;
        };
        while (!complete() && !eof_ && wait_readable(fd_, deadline)) {
            ssize_t n = read_once(fd_, raw_);
            if (n == 0 || n == -1) eof_ = true;
        }
        if (chunked_) {
            decode();
            error_body_ = body_;
        } else {
            error_body_ =
                cl != headers_.end() ? raw_.substr(0, std::min<size_t>(raw_.size(), std::stoull(cl->second))) : raw_;
        }
        raw_.clear();
        body_.clear();
        return;
    }
    decode();
}

SseClient::~SseClient() { close(); }

void SseClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::string SseClient::header(const std::string& name) const {
    auto it = headers_.find(lower(name));
    return it == headers_.end() ? "" : it->second;
}

bool SseClient::read_some(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    if (!wait_readable(fd_, deadline)) return false;
    ssize_t n = read_once(fd_, raw_);
    if (n > 0) bytes_ += static_cast<size_t>(n);
    if (n == 0 || n == -1) {
        eof_ = true;
        reset_ = n == -1;
    }
    decode();
    return n > 0 || n == -2;
}

// One line of body_ (without its end: CRLF, LF or CR); false when no whole line is there yet.
bool SseClient::take_line(std::string& line) {
    size_t i = body_.find_first_of("\r\n");
    if (i == std::string::npos) return false;
    size_t next = i + 1;
    if (body_[i] == '\r') {
        if (i + 1 == body_.size() && !eof_) return false;  // maybe a CRLF split across reads
        if (i + 1 < body_.size() && body_[i + 1] == '\n') next = i + 2;
    }
    line = body_.substr(0, i);
    body_.erase(0, next);
    return true;
}

void SseClient::decode() {
    if (chunked_) {
        while (!chunks_done_) {
            size_t eol = raw_.find("\r\n");
            if (eol == std::string::npos) break;
            size_t size = std::strtoull(raw_.substr(0, eol).c_str(), nullptr, 16);
            if (size == 0) {  // the last chunk: the response (and so the stream) ended
                chunks_done_ = true;
                eof_ = true;
                raw_.clear();
                break;
            }
            if (raw_.size() < eol + 2 + size + 2) break;
            body_.append(raw_, eol + 2, size);
            raw_.erase(0, eol + 2 + size + 2);
        }
    } else {
        body_ += raw_;
        raw_.clear();
    }
    if (status_ != 200) return;
    std::string line;
    while (take_line(line)) {
        if (line.empty()) {
            if (cur_any_) {
                std::string data;
                for (size_t i = 0; i < cur_data_.size(); ++i) data += (i ? "\n" : "") + cur_data_[i];
                cur_.data = std::move(data);
                cur_.raw += "\n";
                if (cur_.event == "heartbeat") ++heartbeats_;
                frames_.push_back(std::move(cur_));
            }
            cur_ = SseEvent{};
            cur_data_.clear();
            cur_any_ = false;
            continue;
        }
        cur_.raw += line + "\n";
        if (line[0] == ':') continue;  // a comment
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (name == "data") {
            cur_data_.push_back(value);
            cur_any_ = true;
        } else if (name == "event") {
            cur_.event = value;
            cur_any_ = true;
        } else if (name == "id") {
            cur_.has_id_line = true;
            std::int64_t v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec == std::errc() && p == value.data() + value.size() && !value.empty()) cur_.id = v;
            cur_any_ = true;
        }
        // retry: and unknown fields are ignored, as the SSE rules say.
    }
}

std::optional<SseEvent> SseClient::next(std::chrono::milliseconds timeout, bool skip_heartbeats) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        while (frames_pos_ < frames_.size()) {
            SseEvent e = std::move(frames_[frames_pos_++]);
            if (frames_pos_ == frames_.size()) {
                frames_.clear();
                frames_pos_ = 0;
            }
            if (skip_heartbeats && e.event == "heartbeat") continue;
            return e;
        }
        if (eof_ || fd_ < 0) return std::nullopt;
        if (Clock::now() >= deadline) return std::nullopt;
        if (!read_some(deadline) && frames_pos_ >= frames_.size()) {
            if (eof_ || Clock::now() >= deadline) return std::nullopt;
        }
    }
}

std::vector<SseEvent> SseClient::collect(std::chrono::milliseconds window, bool skip_heartbeats) {
    std::vector<SseEvent> out;
    auto deadline = Clock::now() + window;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            // Whatever is parsed already still counts.
            while (auto e = next(std::chrono::milliseconds(0), skip_heartbeats)) out.push_back(std::move(*e));
            break;
        }
        auto e = next(left, skip_heartbeats);
        if (!e) {
            if (eof_ || fd_ < 0) break;
            continue;
        }
        out.push_back(std::move(*e));
    }
    return out;
}

bool SseClient::closed_by_server(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!eof_ && fd_ >= 0 && Clock::now() < deadline) read_some(deadline);
    return eof_;
}

int open_stalled_stream(int port, const std::string& target, const std::map<std::string, std::string>& headers,
                        int rcvbuf) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    // Before connect, so that the advertised window stays small.
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    std::string msg = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    for (const auto& [k, v] : headers) msg += k + ": " + v + "\r\n";
    msg += "\r\n";
    if (!send_all(fd, msg)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

DrainResult drain_until_closed(int fd, std::chrono::milliseconds timeout, std::size_t max_bytes, bool keep) {
    DrainResult r;
    auto deadline = Clock::now() + timeout;
    std::string sink;
    while (r.bytes < max_bytes && wait_readable(fd, deadline)) {
        sink.clear();
        ssize_t n = read_once(fd, sink);
        if (n > 0) r.bytes += static_cast<size_t>(n);
        if (n > 0 && keep) r.data += sink;
        if (n == 0 || n == -1) {
            r.closed = true;
            r.reset = n == -1;
            break;
        }
    }
    return r;
}

std::unique_ptr<ChildProcess> ChildProcess::start(const std::vector<std::string>& args,
                                                  const std::map<std::string, std::string>& env) {
    std::unique_ptr<ChildProcess> c(new ChildProcess());
    c->dir_ = make_temp_dir("silo-child");
    c->pid_ = spawn(args, env, c->dir_ + "/out", "", c->dir_ + "/err");
    if (c->pid_ < 0) throw std::runtime_error("fork failed");
    return c;
}

ChildProcess::~ChildProcess() {
    kill();
    if (!dir_.empty() && !std::getenv("SILO_TEST_KEEP")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (exit_) return exit_;
    if (pid_ <= 0) return std::nullopt;
    auto deadline = Clock::now() + timeout;
    while (true) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            return exit_;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void ChildProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (!exit_) exit_ = -SIGKILL;
}

std::string ChildProcess::out() const { return read_file(dir_ + "/out"); }
std::string ChildProcess::err() const { return read_file(dir_ + "/err"); }

std::string find_executable(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream in(path ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(in, dir, ':')) {
        if (dir.empty()) continue;
        std::string candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
}

}  // namespace silo::itest
