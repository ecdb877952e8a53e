#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <pqxx/pqxx>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
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
bool send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

// Reads more bytes into buffer; false on EOF, error or timeout.
bool fill(int fd, std::string& buffer) {
    char tmp[16384];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buffer.append(tmp, static_cast<size_t>(n));
    return true;
}
}  // namespace

std::optional<HttpResult> read_response(int fd, std::string& buffer) {
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
    if (r.status == 100) return read_response(fd, buffer);
    auto cl = r.headers.find("content-length");
    if (cl != r.headers.end()) {
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

HttpResult HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                               std::map<std::string, std::string> headers) {
    for (const auto& [k, v] : default_headers) headers.emplace(k, v);
    std::string msg = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) msg += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
        msg += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    msg += "\r\n" + body;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (fd_ < 0) connect();
        std::string buffer;
        // A server may answer (413) before the whole body is sent: read the answer anyway.
        bool sent = send_all(fd_, msg);
        if (sent || attempt == 1) {
            auto r = read_response(fd_, buffer);
            if (r) {
                auto conn = r->header("connection");
                if (conn == "close") {
                    ::close(fd_);
                    fd_ = -1;
                }
                return *r;
            }
        }
        ::close(fd_);
        fd_ = -1;
    }
    throw std::runtime_error("no response for " + method + " " + target);
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

namespace {
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& cwd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
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
        cfg += "database:\n  driver: sqlite\n  path: " + p->dir_ + "/silo.db\n";
    }
    cfg += "storage:\n  root_dir: " + p->dir_ + "/files\n";
    cfg += "schemas:\n  directory: " SILO_SOURCE_DIR "/schemas\n";
    cfg += "workflows:\n  directory: " SILO_SOURCE_DIR "/workflows\n";
    cfg += std::string("auth:\n  enabled: ") + (o.auth_enabled ? "true" : "false") + "\n";
    cfg += o.extra_yaml;
    write_file(p->dir_ + "/silod.yaml", cfg);
    p->log_path_ = p->dir_ + "/silod-" + std::to_string(std::random_device{}() % 100000) + ".log";
    p->pid_ = spawn({SILO_BINARY, "--config", p->dir_ + "/silod.yaml"}, o.env, p->log_path_, "");
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
            throw std::runtime_error("silod exited during start-up:\n" + read_file(p->log_path_));
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
        SQLite::Database d(dir_ + "/silo.db", SQLite::OPEN_READWRITE);
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
    std::vector<std::string> full{SILO_BINARY};
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

}  // namespace silo::itest
