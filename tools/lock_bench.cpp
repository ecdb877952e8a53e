// lock_bench: edit-session lock throughput (acquire + release pairs per second) and request
// latency, through silod's HTTP API and, for comparison, straight against the database.
//
//   lock_bench http    --port P --token T            HTTP/1.1 keep-alive clients against silod
//   lock_bench raw     --driver sqlite --path FILE   the same write transactions, no HTTP:
//   lock_bench raw     --driver postgres --url URL     SessionRepository::insert + audit + event,
//                                                      then SessionRepository::remove + event + audit
//   lock_bench service --driver ... (as raw)         SessionService::acquire / release called
//                                                      directly (every transaction the server
//                                                      runs for the pair, without HTTP and auth)
//
// Each cell (mode x clients) runs one thread per client for --warmup + --duration seconds;
// only operations that start and end inside the measured window count. A client loops:
// acquire; when it got the lock, release. "distinct": client k locks object Sketch001 of its
// own item; "contested": every client tries object Shared of item 0, and a 409
// hard_interference (raw: the insert that found the row) counts as an attempt.
//
// One line per cell on stdout (key=value), or JSON objects with --json; progress on stderr.
// Only loopback targets are accepted. Every wait is bounded (socket timeouts, fixed windows).
// Run by hand; never part of .ci/run or ctest. See tools/README.md.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/role.hpp"
#include "service/events.hpp"
#include "service/session_service.hpp"
#include "storage/audit_repository.hpp"
#include "storage/item_repository.hpp"
#include "storage/session_repository.hpp"
#include "storage/sql.hpp"
#include "storage/workstation_repository.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using silo::Audience;
using silo::Millis;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    std::string target;  // http | raw | service
    std::vector<int> clients{1, 16, 64};
    std::vector<std::string> modes{"distinct", "contested"};
    double duration_s = 5;
    double warmup_s = 1;
    bool json = false;
    std::string label;  // "db=" in the output (sqlite/postgres); informative only
    // http
    int port = 0;
    std::string token;
    std::string prefix;  // part-number prefix of the bench items
    int timeout_s = 30;
    int server_pid = 0;  // http: also report this process's CPU time per pair
    int db_pid = 0;      // PostgreSQL: the postmaster; its CPU and its children's per pair
    // raw / service
    std::string driver = "sqlite";
    std::string path;
    std::string url;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "lock_bench: %s\n"
                 "usage: lock_bench http --port P --token T [--prefix LB1] [--timeout S] [--server-pid PID]\n"
                 "       lock_bench raw|service --driver sqlite --path FILE\n"
                 "       lock_bench raw|service --driver postgres --url URL\n"
                 "common: [--clients 1,16,64] [--modes distinct,contested] [--duration 5] [--warmup 1] [--db-pid PID]\n"
                 "        [--label NAME] [--json]\n",
                 why);
    std::exit(2);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto end = s.find(sep, start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage("missing target");
    Options o;
    o.target = argv[1];
    if (o.target != "http" && o.target != "raw" && o.target != "service") usage("target must be http, raw or service");
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--clients") {
            o.clients.clear();
            for (const auto& c : split(val(), ',')) {
                int n = std::atoi(c.c_str());
                if (n < 1 || n > 1024) usage("--clients must be 1..1024");
                o.clients.push_back(n);
            }
        } else if (a == "--modes") {
            o.modes = split(val(), ',');
            for (const auto& m : o.modes)
                if (m != "distinct" && m != "contested") usage("--modes: distinct and/or contested");
        } else if (a == "--duration") {
            o.duration_s = std::atof(val().c_str());
        } else if (a == "--warmup") {
            o.warmup_s = std::atof(val().c_str());
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--label") {
            o.label = val();
        } else if (a == "--port") {
            o.port = std::atoi(val().c_str());
        } else if (a == "--token") {
            o.token = val();
        } else if (a == "--prefix") {
            o.prefix = val();
        } else if (a == "--db-pid") {
            o.db_pid = std::atoi(val().c_str());
        } else if (a == "--server-pid") {
            o.server_pid = std::atoi(val().c_str());
        } else if (a == "--timeout") {
            o.timeout_s = std::atoi(val().c_str());
        } else if (a == "--driver") {
            o.driver = val();
        } else if (a == "--path") {
            o.path = val();
        } else if (a == "--url") {
            o.url = val();
        } else {
            usage(("unknown option " + a).c_str());
        }
    }
    if (o.duration_s <= 0 || o.duration_s > 3600 || o.warmup_s < 0 || o.warmup_s > 600) usage("bad --duration/--warmup");
    if (o.target == "http") {
        if (o.port <= 0 || o.port > 65535) usage("--port is required");
        if (o.token.empty()) usage("--token is required");
        if (o.timeout_s < 1) usage("bad --timeout");
        if (o.prefix.empty()) o.prefix = "LB" + silo::random_hex(4);
        if (o.label.empty()) o.label = "silod";
    } else {
        if (o.driver == "sqlite" && o.path.empty()) usage("--path is required for sqlite");
        if (o.driver == "postgres" && o.url.empty()) usage("--url is required for postgres");
        if (o.driver != "sqlite" && o.driver != "postgres") usage("--driver must be sqlite or postgres");
        if (o.label.empty()) o.label = o.driver;
    }
    return o;
}

// ---------------------------------------------------------------------------------------------
// CPU time (ms): this process, another process (all its threads), and the whole machine

double self_cpu_ms() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

double process_cpu_ms(int pid) {
    if (pid <= 0) return 0;
    FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) return 0;
    char buf[4096];
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
    if (!p) return 0;
    unsigned long long utime = 0, stime = 0;
    // fields after ")": state(3) ... utime(14) stime(15)
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
    return static_cast<double>(utime + stime) * 1e3 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A process and its direct children (the postmaster and its backends).
double tree_cpu_ms(int pid) {
    if (pid <= 0) return 0;
    double sum = process_cpu_ms(pid);
    for (const auto& e : std::filesystem::directory_iterator("/proc", std::filesystem::directory_options::skip_permission_denied)) {
        const auto name = e.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        FILE* f = std::fopen((e.path() / "stat").c_str(), "r");
        if (!f) continue;
        char buf[1024];
        std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = 0;
        const char* p = std::strrchr(buf, ')');
        int ppid = 0;
        if (p && std::sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == pid) sum += process_cpu_ms(std::atoi(name.c_str()));
    }
    return sum;
}

// Busy CPU time of the whole machine (every core), from /proc/stat.
double machine_busy_ms() {
    FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long v[8] = {};
    int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                          &v[6], &v[7]);
    std::fclose(f);
    if (got < 8) return 0;
    // user nice system [idle iowait] irq softirq steal
    return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1e3 /
           static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct CpuSample {
    double self = 0, server = 0, db = 0, machine = 0;
    static CpuSample take(int server_pid, int db_pid) {
        return {self_cpu_ms(), process_cpu_ms(server_pid), tree_cpu_ms(db_pid), machine_busy_ms()};
    }
};

// ---------------------------------------------------------------------------------------------
// Results

struct ThreadStats {
    std::uint64_t pairs = 0, attempts = 0, refused = 0, errors = 0;
    std::vector<std::uint32_t> acq_us, rel_us;  // latency of every counted request
    std::string first_error;
};

struct Window {
    Clock::time_point start, end;
    bool inside(Clock::time_point a, Clock::time_point b) const { return a >= start && b <= end; }
};

std::uint32_t micros(Clock::time_point a, Clock::time_point b) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
    return static_cast<std::uint32_t>(std::clamp<long long>(us, 0, UINT32_MAX));
}

double pct_ms(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) return 0;
    auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k] / 1000.0;
}

void report(const Options& o, const std::string& mode, int clients, std::vector<ThreadStats>& ts, const CpuSample& cpu0,
            const CpuSample& cpu1) {
    ThreadStats all;
    for (auto& t : ts) {
        all.pairs += t.pairs;
        all.attempts += t.attempts;
        all.refused += t.refused;
        all.errors += t.errors;
        all.acq_us.insert(all.acq_us.end(), t.acq_us.begin(), t.acq_us.end());
        all.rel_us.insert(all.rel_us.end(), t.rel_us.begin(), t.rel_us.end());
        if (all.first_error.empty()) all.first_error = t.first_error;
    }
    std::vector<std::uint32_t> req = all.acq_us;
    req.insert(req.end(), all.rel_us.begin(), all.rel_us.end());
    const double d = o.duration_s;
    const double pairs_s = static_cast<double>(all.pairs) / d;
    const double attempts_s = static_cast<double>(all.attempts) / d;
    const double p50 = pct_ms(req, 0.50), p99 = pct_ms(req, 0.99);
    const double a50 = pct_ms(all.acq_us, 0.50), a99 = pct_ms(all.acq_us, 0.99);
    const double r50 = pct_ms(all.rel_us, 0.50), r99 = pct_ms(all.rel_us, 0.99);
    // CPU milliseconds per counted pair: this process (the raw loop, or the HTTP client), the
    // server (http with --server-pid), and the whole machine (includes everything else running).
    const double np = all.pairs > 0 ? static_cast<double>(all.pairs) : 1.0;
    const double cpu_self = (cpu1.self - cpu0.self) / np, cpu_server = (cpu1.server - cpu0.server) / np,
                 cpu_machine = (cpu1.machine - cpu0.machine) / np, cpu_db = (cpu1.db - cpu0.db) / np;
    const double busy_cores = (cpu1.machine - cpu0.machine) / (d * 1e3);
    if (o.json) {
        std::printf("{\"target\":\"%s\",\"db\":\"%s\",\"mode\":\"%s\",\"clients\":%d,\"duration_s\":%.1f,"
                    "\"pairs\":%" PRIu64 ",\"pairs_per_s\":%.1f,\"attempts\":%" PRIu64 ",\"attempts_per_s\":%.1f,"
                    "\"refused\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"req_p50_ms\":%.3f,\"req_p99_ms\":%.3f,"
                    "\"acq_p50_ms\":%.3f,\"acq_p99_ms\":%.3f,\"rel_p50_ms\":%.3f,\"rel_p99_ms\":%.3f,"
                    "\"cpu_self_ms_per_pair\":%.3f,\"cpu_server_ms_per_pair\":%.3f,\"cpu_db_ms_per_pair\":%.3f,"
                    "\"cpu_machine_ms_per_pair\":%.3f,"
                    "\"busy_cores\":%.2f}\n",
                    o.target.c_str(), o.label.c_str(), mode.c_str(), clients, d, all.pairs, pairs_s, all.attempts,
                    attempts_s, all.refused, all.errors, p50, p99, a50, a99, r50, r99, cpu_self, cpu_server,
                    cpu_db, cpu_machine, busy_cores);
    } else {
        std::printf("target=%s db=%s mode=%s clients=%d duration_s=%.1f pairs=%" PRIu64
                    " pairs_per_s=%.1f attempts=%" PRIu64 " attempts_per_s=%.1f refused=%" PRIu64
                    " errors=%" PRIu64 " req_p50_ms=%.3f req_p99_ms=%.3f acq_p50_ms=%.3f acq_p99_ms=%.3f"
                    " rel_p50_ms=%.3f rel_p99_ms=%.3f cpu_self_ms_per_pair=%.3f cpu_server_ms_per_pair=%.3f cpu_db_ms_per_pair=%.3f"
                    " cpu_machine_ms_per_pair=%.3f busy_cores=%.2f\n",
                    o.target.c_str(), o.label.c_str(), mode.c_str(), clients, d, all.pairs, pairs_s, all.attempts,
                    attempts_s, all.refused, all.errors, p50, p99, a50, a99, r50, r99, cpu_self, cpu_server,
                    cpu_db, cpu_machine, busy_cores);
    }
    std::fflush(stdout);
    if (!all.first_error.empty()) std::fprintf(stderr, "lock_bench: first error: %s\n", all.first_error.c_str());
}

// One client's work, whatever the target: acquire() returns the session id, "" for a refusal
// (hard interference), or nullopt for an error; release() returns false on an error.
class Client {
public:
    virtual ~Client() = default;
    virtual std::optional<std::string> acquire(std::string& err) = 0;
    virtual bool release(const std::string& id, std::string& err) = 0;
};

// Runs one cell: every client loops until the window ends, then each thread is joined.
void run_cell(const Options& o, const std::string& mode, std::vector<std::unique_ptr<Client>>& clients) {
    const int n = static_cast<int>(clients.size());
    std::vector<ThreadStats> ts(static_cast<std::size_t>(n));
    Window w;
    std::barrier sync(n + 1);
    std::vector<std::thread> threads;
    for (int k = 0; k < n; ++k) {
        threads.emplace_back([&, k] {
            auto& st = ts[static_cast<std::size_t>(k)];
            auto& c = *clients[static_cast<std::size_t>(k)];
            st.acq_us.reserve(1 << 16);
            st.rel_us.reserve(1 << 16);
            sync.arrive_and_wait();  // w is set before this returns
            std::string err;
            int consecutive_errors = 0;
            while (Clock::now() < w.end) {
                auto t0 = Clock::now();
                auto id = c.acquire(err);
                auto t1 = Clock::now();
                bool counted = w.inside(t0, t1);
                if (!id) {
                    if (counted) ++st.errors;
                    if (st.first_error.empty()) st.first_error = err;
                    if (++consecutive_errors > 100) break;  // the target is gone: stop this client
                    continue;
                }
                if (counted) {
                    ++st.attempts;
                    st.acq_us.push_back(micros(t0, t1));
                }
                if (id->empty()) {  // refused: somebody else holds the object
                    if (counted) ++st.refused;
                    continue;
                }
                // Always release what we hold, even after the window ends.
                bool ok = c.release(*id, err);
                auto t2 = Clock::now();
                if (!ok) {
                    if (w.inside(t1, t2)) ++st.errors;
                    if (st.first_error.empty()) st.first_error = err;
                    if (++consecutive_errors > 100) break;
                    continue;
                }
                consecutive_errors = 0;
                if (w.inside(t1, t2)) st.rel_us.push_back(micros(t1, t2));
                if (w.inside(t0, t2)) ++st.pairs;
            }
        });
    }
    auto now = Clock::now();
    w.start = now + std::chrono::microseconds(static_cast<long long>(o.warmup_s * 1e6));
    w.end = w.start + std::chrono::microseconds(static_cast<long long>(o.duration_s * 1e6));
    sync.arrive_and_wait();
    std::this_thread::sleep_until(w.start);
    auto cpu0 = CpuSample::take(o.server_pid, o.db_pid);
    std::this_thread::sleep_until(w.end);
    auto cpu1 = CpuSample::take(o.server_pid, o.db_pid);
    for (auto& t : threads) t.join();
    report(o, mode, n, ts, cpu0, cpu1);
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 keep-alive client (blocking socket, one per thread, loopback only)

struct Response {
    int status = 0;
    std::string body;
};

class Http {
public:
    Http(int port, int timeout_s) : port_(port), timeout_s_(timeout_s) {}
    ~Http() { close_fd(); }
    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;

    // One request; reconnects once if a kept-alive connection turns out closed.
    std::optional<Response> request(const std::string& method, const std::string& target, const std::string& token,
                                    const std::string& body, std::string& err) {
        std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
        if (!body.empty() || method == "POST")
            req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        req += "\r\n";
        req += body;
        for (int attempt = 0; attempt < 2; ++attempt) {
            bool reused = fd_ >= 0;
            if (fd_ < 0 && !connect_fd(err)) return std::nullopt;
            if (!send_all(req)) {
                close_fd();
                if (reused) continue;
                err = "send failed: " + std::string(std::strerror(errno));
                return std::nullopt;
            }
            Response r;
            bool got_any = false;
            if (read_response(r, got_any, err)) return r;
            close_fd();
            if (reused && !got_any) continue;  // the server closed an idle connection
            return std::nullopt;
        }
        err = "connection closed twice";
        return std::nullopt;
    }

private:
    bool connect_fd(std::string& err) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            err = "socket: " + std::string(std::strerror(errno));
            return false;
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{timeout_s_, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port_));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            err = "connect: " + std::string(std::strerror(errno));
            close_fd();
            return false;
        }
        buf_.clear();
        return true;
    }

    void close_fd() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }

    bool send_all(const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            auto n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    // Appends more bytes to buf_; false on EOF, error or timeout.
    bool fill(std::string& err) {
        char tmp[16384];
        for (;;) {
            auto n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n > 0) {
                buf_.append(tmp, static_cast<std::size_t>(n));
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            err = n == 0 ? "connection closed by the server"
                         : (errno == EAGAIN || errno == EWOULDBLOCK) ? "response timeout"
                                                                      : "recv: " + std::string(std::strerror(errno));
            return false;
        }
    }

    static std::string lower(std::string s) {
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }

    bool read_response(Response& r, bool& got_any, std::string& err) {
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
            if (buf_.size() > 65536) {
                err = "response header too large";
                return false;
            }
            if (!fill(err)) return false;
            got_any = true;
        }
        got_any = true;
        std::string head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) {
            err = "bad status line";
            return false;
        }
        r.status = std::atoi(head.c_str() + 9);
        std::optional<std::size_t> length;
        bool chunked = false, close_after = false;
        std::size_t pos = head.find("\r\n");
        while (pos != std::string::npos) {
            std::size_t next = head.find("\r\n", pos + 2);
            std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            pos = next;
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string name = lower(line.substr(0, colon));
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            if (name == "content-length") length = static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10));
            else if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
            else if (name == "connection" && lower(value).find("close") != std::string::npos) close_after = true;
        }
        if (chunked) {
            for (;;) {
                std::size_t le;
                while ((le = buf_.find("\r\n")) == std::string::npos)
                    if (!fill(err)) return false;
                std::size_t size = std::strtoull(buf_.c_str(), nullptr, 16);
                buf_.erase(0, le + 2);
                while (buf_.size() < size + 2)
                    if (!fill(err)) return false;
                r.body.append(buf_, 0, size);
                buf_.erase(0, size + 2);
                if (size == 0) break;  // (trailers are not used by silod)
            }
        } else if (length) {
            while (buf_.size() < *length)
                if (!fill(err)) return false;
            r.body = buf_.substr(0, *length);
            buf_.erase(0, *length);
        } else if (r.status != 204 && r.status != 304 && !(r.status >= 100 && r.status < 200)) {
            while (fill(err)) {
            }
            r.body.swap(buf_);
            close_after = true;
        }
        if (close_after) close_fd();
        return true;
    }

    int port_, timeout_s_;
    int fd_ = -1;
    std::string buf_;
};

// The value of a top-level string field in a small JSON text (silod's own answers only).
std::string json_string(const std::string& body, const std::string& key) {
    auto k = body.find("\"" + key + "\":\"");
    if (k == std::string::npos) return "";
    k += key.size() + 4;
    auto e = body.find('"', k);
    return e == std::string::npos ? "" : body.substr(k, e - k);
}

std::string brief(const Response& r) {
    return "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300);
}

class HttpClient final : public Client {
public:
    HttpClient(const Options& o, std::string pn, std::string ws, std::string object)
        : http_(o.port, o.timeout_s), token_(o.token), pn_(std::move(pn)), object_(std::move(object)) {
        acquire_body_ = "{\"workstation_id\":\"" + ws + "\",\"context_level\":\"sketch\",\"object_id\":\"" + object_ + "\"}";
    }
    std::optional<std::string> acquire(std::string& err) override {
        auto r = http_.request("POST", "/api/items/" + pn_ + "/edit-sessions", token_, acquire_body_, err);
        if (!r) return std::nullopt;
        if (r->status == 200) {
            auto id = json_string(r->body, "session_id");
            if (!id.empty()) return id;
        }
        if (r->status == 409 && r->body.find("\"hard_interference\"") != std::string::npos) return std::string();
        err = "acquire: " + brief(*r);
        return std::nullopt;
    }
    bool release(const std::string& id, std::string& err) override {
        auto r = http_.request("DELETE", "/api/items/" + pn_ + "/edit-sessions/" + id, token_, "", err);
        if (!r) return false;
        if (r->status == 204 || r->status == 200) return true;
        err = "release: " + brief(*r);
        return false;
    }

private:
    Http http_;
    std::string token_, pn_, object_, acquire_body_;
};

// Items <prefix>-<k> and one workstation per client, created through the API (idempotent:
// an existing item or fingerprint is reused).
int run_http(const Options& o) {
    int max_clients = *std::max_element(o.clients.begin(), o.clients.end());
    Http setup(o.port, o.timeout_s);
    std::string err;
    std::vector<std::string> pns, wss;
    for (int k = 0; k < max_clients; ++k) {
        std::string pn = o.prefix + "-" + std::to_string(k);
        auto r = setup.request("POST", "/api/items", o.token,
                               "{\"part_number\":\"" + pn + "\",\"description\":\"lock_bench\"}", err);
        if (!r || (r->status != 201 && r->status != 409)) {
            std::fprintf(stderr, "lock_bench: creating item %s failed: %s\n", pn.c_str(), r ? brief(*r).c_str() : err.c_str());
            return 1;
        }
        r = setup.request("POST", "/api/workstations", o.token,
                          "{\"name\":\"lock_bench " + std::to_string(k) + "\",\"fingerprint\":\"lock_bench-" + o.prefix +
                              "-" + std::to_string(k) + "\"}",
                          err);
        std::string id = r ? json_string(r->body, "id") : "";
        if (!r || (r->status != 201 && r->status != 200) || id.empty()) {
            std::fprintf(stderr, "lock_bench: creating a workstation failed: %s\n", r ? brief(*r).c_str() : err.c_str());
            return 1;
        }
        pns.push_back(pn);
        wss.push_back(id);
    }
    std::fprintf(stderr, "lock_bench: %d items %s-0.. and workstations ready\n", max_clients, o.prefix.c_str());
    for (const auto& mode : o.modes) {
        for (int n : o.clients) {
            std::vector<std::unique_ptr<Client>> clients;
            for (int k = 0; k < n; ++k) {
                if (mode == "distinct")
                    clients.push_back(std::make_unique<HttpClient>(o, pns[static_cast<std::size_t>(k)],
                                                                   wss[static_cast<std::size_t>(k)], "Sketch001"));
                else
                    clients.push_back(std::make_unique<HttpClient>(o, pns[0], wss[static_cast<std::size_t>(k)], "Shared"));
            }
            std::fprintf(stderr, "lock_bench: http %s clients=%d\n", mode.c_str(), n);
            run_cell(o, mode, clients);
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Straight against the database

// Fixture ids, UUID-shaped (the service checks workstation ids) and predictable, so that a
// pgbench script can name them: item k = 00000000-0000-4000-8000-<k as 12 digits>,
// workstation k = 00000000-0000-4000-9000-<k>.
std::string fixture_id(const char* group, int k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-%s-%012d", group, k);
    return buf;
}
const char* kUserId = "00000000-0000-4000-a000-000000000000";
const char* kUsername = "lockbench";

std::string fixture_pn(int k) { return "LBR-" + std::to_string(k); }

void fail_status(const silo::Status& st, const char* what) {
    if (st.ok()) return;
    std::fprintf(stderr, "lock_bench: %s: %s\n", what, st.error().message.c_str());
    std::exit(1);
}

void prepare_fixtures(silo::sql::Database& db, int max_clients) {
    fail_status(db.transact(silo::sql::TxMode::write, [&](silo::sql::Tx& tx) -> silo::Status {
        Millis now = silo::now_millis();
        for (int k = 0; k < max_clients; ++k) {
            silo::ItemRecord it;
            it.id = fixture_id("8000", k);
            it.part_number = fixture_pn(k);
            it.item_type = "part";
            it.description = "lock_bench";
            it.created_by = kUsername;
            it.created_at = it.updated_at = now;
            if (!silo::ItemRepository::find_by_part_number(tx, it.part_number)) silo::ItemRepository::insert(tx, it);
            silo::WorkstationRecord w;
            w.id = fixture_id("9000", k);
            w.user_id = kUserId;
            w.name = "lock_bench " + std::to_string(k);
            w.fingerprint = "lock_bench-raw-" + std::to_string(k);
            w.created_at = now;
            if (!silo::WorkstationRepository::find(tx, w.id)) silo::WorkstationRepository::insert(tx, w);
        }
        // Sessions left over by an interrupted run.
        tx.exec("DELETE FROM edit_sessions WHERE user_id = $1", {std::string(kUserId)});
        return {};
    }),
                "creating the fixtures");
}

// The acquire transaction and the release transaction of SessionService, reduced to their
// writes: the session row, its audit row and its event row (same repositories, same JSON).
class RawClient final : public Client {
public:
    RawClient(silo::sql::Database& db, int item, int ws, std::string object) : db_(db) {
        s_.item_id = fixture_id("8000", item);
        s_.part_number = fixture_pn(item);
        s_.user_id = kUserId;
        s_.username = kUsername;
        s_.workstation_id = fixture_id("9000", ws);
        s_.context_level = "sketch";
        s_.object_id = std::move(object);
    }

    std::optional<std::string> acquire(std::string& err) override {
        s_.id = silo::new_uuid();
        s_.acquired_at = s_.last_heartbeat = silo::now_millis();
        auto st = db_.transact(silo::sql::TxMode::write, [&](silo::sql::Tx& tx) -> silo::Status {
            if (!silo::SessionRepository::insert(tx, s_)) return silo::Error(silo::Errc::hard_interference, "held");
            silo::AuditRepository::append(tx,
                                          {s_.username, "edit.session_acquired", "edit_session", s_.id,
                                           {{"part_number", s_.part_number}, {"workstation_id", s_.workstation_id},
                                            {"context_level", s_.context_level}, {"object_id", s_.object_id},
                                            {"interference", "none"}}},
                                          s_.acquired_at);
            silo::emit(tx, "edit.session_acquired", Audience::item, s_.item_id,
                       {{"item_id", s_.item_id}, {"part_number", s_.part_number}, {"session_id", s_.id},
                        {"user", s_.username}, {"workstation_id", s_.workstation_id},
                        {"context_level", s_.context_level}, {"object_id", s_.object_id},
                        {"interference", "none"}, {"conflicts", nlohmann::json::array()}});
            return {};
        });
        if (st.ok()) return s_.id;
        if (st.error().code == silo::Errc::hard_interference) return std::string();
        err = st.error().message;
        return std::nullopt;
    }

    bool release(const std::string& id, std::string& err) override {
        auto st = db_.transact(silo::sql::TxMode::write, [&](silo::sql::Tx& tx) -> silo::Status {
            if (!silo::SessionRepository::remove(tx, id)) return silo::Error(silo::Errc::not_found, "session gone");
            Millis now = silo::now_millis();
            silo::emit(tx, "edit.session_released", Audience::item, s_.item_id,
                       {{"item_id", s_.item_id}, {"part_number", s_.part_number}, {"session_id", id},
                        {"user", s_.username}, {"workstation_id", s_.workstation_id},
                        {"context_level", s_.context_level}, {"object_id", s_.object_id}, {"reason", "released"}});
            silo::AuditRepository::append(tx,
                                          {s_.username, "edit.session_released", "edit_session", id,
                                           {{"part_number", s_.part_number}, {"holder", s_.username},
                                            {"workstation_id", s_.workstation_id},
                                            {"context_level", s_.context_level}, {"object_id", s_.object_id},
                                            {"reason", "released"}}},
                                          now);
            return {};
        });
        if (st.ok()) return true;
        err = st.error().message;
        return false;
    }

private:
    silo::sql::Database& db_;
    silo::SessionRecord s_;
};

// SessionService::acquire / release: every transaction the server runs for the pair (item and
// workstation lookups, the soft-conflict list, the read before the release), without HTTP.
class ServiceClient final : public Client {
public:
    ServiceClient(silo::SessionService& svc, int item, int ws, std::string object) : svc_(svc) {
        p_.user_id = kUserId;
        p_.username = kUsername;
        p_.role = silo::Role::editor;
        pn_ = fixture_pn(item);
        in_.workstation_id = fixture_id("9000", ws);
        in_.context_level = "sketch";
        in_.object_id = std::move(object);
    }
    std::optional<std::string> acquire(std::string& err) override {
        auto r = svc_.acquire(p_, pn_, in_);
        if (r.ok()) return r->session.id;
        if (r.error().code == silo::Errc::hard_interference) return std::string();
        err = r.error().message;
        return std::nullopt;
    }
    bool release(const std::string& id, std::string& err) override {
        auto st = svc_.release(p_, pn_, id);
        if (st.ok()) return true;
        err = st.error().message;
        return false;
    }

private:
    silo::SessionService& svc_;
    silo::Principal p_;
    std::string pn_;
    silo::AcquireInput in_;
};

int run_db(const Options& o) {
    silo::sql::DatabaseOptions dopt;
    dopt.dialect = o.driver == "postgres" ? silo::sql::Dialect::postgres : silo::sql::Dialect::sqlite;
    dopt.sqlite_path = o.path;
    dopt.postgres_url = o.url;
    auto opened = silo::sql::open_database(dopt);
    if (!opened.ok()) {
        std::fprintf(stderr, "lock_bench: %s\n", opened.error().message.c_str());
        return 1;
    }
    auto db = std::move(opened).value();
    fail_status(db->migrate(), "migrating");
    int max_clients = *std::max_element(o.clients.begin(), o.clients.end());
    prepare_fixtures(*db, max_clients);
    silo::NullNotifier notifier;
    auto work_dir = (std::filesystem::temp_directory_path() / ("lock_bench-work-" + silo::random_hex(6))).string();
    silo::SessionService svc(*db, notifier, silo::SessionsModuleConfig{}, work_dir);
    for (const auto& mode : o.modes) {
        for (int n : o.clients) {
            std::vector<std::unique_ptr<Client>> clients;
            for (int k = 0; k < n; ++k) {
                int item = mode == "distinct" ? k : 0;
                std::string object = mode == "distinct" ? "Sketch001" : "Shared";
                if (o.target == "raw")
                    clients.push_back(std::make_unique<RawClient>(*db, item, k, object));
                else
                    clients.push_back(std::make_unique<ServiceClient>(svc, item, k, object));
            }
            std::fprintf(stderr, "lock_bench: %s %s %s clients=%d\n", o.target.c_str(), o.label.c_str(), mode.c_str(), n);
            run_cell(o, mode, clients);
        }
    }
    db->close();
    std::error_code ec;
    std::filesystem::remove_all(work_dir, ec);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);  // no migration chatter on stdout
    return o.target == "http" ? run_http(o) : run_db(o);
}
