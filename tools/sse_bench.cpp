// sse_bench: Server-Sent-Events fan-out benchmark (one process, one thread, epoll).
//
// It opens N idle SSE streams to one server, measures how much the server's resident memory
// grows per stream, then fires R trigger requests that each cause one broadcast event and
// times how long it takes until every stream has received the complete event frame.
//
// Works against silod (`GET /api/events`, trigger `POST /api/items`) and against
// nginx + nchan (`GET /sub`, trigger `POST /pub`); see tools/README.md and the wrapper scripts
// tools/sse_bench_nchan.sh and tools/sse_bench_compare.sh.
//
// Only loopback targets (127.0.0.0/8) are accepted. Every wait is bounded in time.
// Standard library + POSIX/Linux only (epoll, /proc).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// Small utilities

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

double ns_to_ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

void logf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void logf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("sse_bench: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "sse_bench: error: %s\n", msg.c_str());
    std::exit(2);
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char a = s[i], b = prefix[i];
        if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
        if (a != b) return false;
    }
    return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
    if (needle.empty()) return true;
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
        if (iequals_prefix(hay.substr(i), needle)) return true;
    return false;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out;
}

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// Nearest-rank percentile, p in [0,100]; v need not be sorted.
double percentile(std::vector<double> v, double p) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    if (rank == 0) rank = 1;
    return v[std::min(rank, v.size()) - 1];
}

// ---------------------------------------------------------------------------------------------
// URL

struct Url {
    std::string host;  // as written (for the Host header)
    in_addr addr{};
    uint16_t port = 80;
    std::string target = "/";  // path + query
};

Url parse_url(const std::string& s) {
    const std::string scheme = "http://";
    if (s.compare(0, scheme.size(), scheme) != 0) die("only http:// URLs are supported: " + s);
    std::string rest = s.substr(scheme.size());
    size_t slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    Url u;
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    size_t colon = hostport.rfind(':');
    std::string host = hostport;
    if (colon != std::string::npos) {
        host = hostport.substr(0, colon);
        char* end = nullptr;
        long p = std::strtol(hostport.c_str() + colon + 1, &end, 10);
        if (*end != '\0' || p <= 0 || p > 65535) die("bad port in URL: " + s);
        u.port = static_cast<uint16_t>(p);
    }
    u.host = hostport;
    if (host == "localhost") host = "127.0.0.1";
    if (inet_pton(AF_INET, host.c_str(), &u.addr) != 1)
        die("the host must be an IPv4 literal or localhost: " + s);
    if ((ntohl(u.addr.s_addr) >> 24) != 127)
        die("refusing a non-loopback target (only 127.0.0.0/8 is allowed): " + s);
    return u;
}

// ---------------------------------------------------------------------------------------------
// Memory of the measured server: VmRSS of a set of processes (optionally with descendants).

long read_vmrss_kb(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            kb = std::strtol(line + 6, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return kb;
}

int read_ppid(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Format: pid (comm) state ppid ...; comm may contain spaces and parentheses.
    char* rp = std::strrchr(buf, ')');
    if (!rp) return -1;
    char state = 0;
    int ppid = -1;
    if (std::sscanf(rp + 1, " %c %d", &state, &ppid) != 2) return -1;
    return ppid;
}

std::vector<int> expand_with_children(const std::vector<int>& roots) {
    std::vector<std::pair<int, int>> all;  // (pid, ppid)
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end = nullptr;
            long pid = std::strtol(e->d_name, &end, 10);
            if (*end != '\0' || pid <= 0) continue;
            int pp = read_ppid(static_cast<int>(pid));
            if (pp >= 0) all.emplace_back(static_cast<int>(pid), pp);
        }
        closedir(d);
    }
    std::vector<int> out = roots;
    for (size_t i = 0; i < out.size() && i < 4096; ++i)
        for (auto& [pid, pp] : all)
            if (pp == out[i] && std::find(out.begin(), out.end(), pid) == out.end())
                out.push_back(pid);
    return out;
}

struct RssSample {
    long total_kb = -1;
    int processes = 0;
};

RssSample sample_rss(const std::vector<int>& roots, bool with_children) {
    RssSample s;
    if (roots.empty()) return s;
    std::vector<int> pids = with_children ? expand_with_children(roots) : roots;
    long sum = 0;
    for (int pid : pids) {
        long kb = read_vmrss_kb(pid);
        if (kb < 0) continue;
        sum += kb;
        ++s.processes;
    }
    if (s.processes > 0) s.total_kb = sum;
    return s;
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    std::string name = "server";
    std::string url;
    std::string trigger_url;
    std::string trigger_body = "{\"part_number\":\"{pn}\"}";
    std::string token;
    std::string token_file;
    int n = 1000;
    int sources = 0;  // 0 = ceil(n / 20000) + 1
    int batch = 500;
    double header_timeout_s = 10;
    double settle_s = 3;
    int rounds = 5;
    double round_timeout_s = 30;
    double round_gap_s = 0.5;
    std::vector<int> pids;
    bool with_children = false;
    bool json = false;
};

void usage() {
    std::fputs(
        R"(usage: sse_bench [options]

Target (pick one preset or give --url and --trigger-url):
  --silod BASE            BASE=http://127.0.0.1:PORT: streams GET BASE/api/events,
                          trigger POST BASE/api/items, name=silod
  --nchan BASE            streams GET BASE/sub, trigger POST BASE/pub, name=nchan
  --url URL               SSE stream URL (http://127.x.x.x:PORT/path?query)
  --trigger-url URL       URL that a POST to publishes one broadcast event
  --trigger-body TEXT     POST body; {pn} is replaced by the round's marker
                          (default {"part_number":"{pn}"})
  --name NAME             label printed as server=NAME
  --token TOKEN           sends Authorization: Bearer TOKEN (streams and trigger)
  --token-file FILE       one token per line, used round-robin for the streams
                          (the trigger keeps --token); spreads streams over users

Load:
  --n N                   number of streams (default 1000)
  --sources K             source addresses 127.0.0.1..127.0.0.K (default ceil(N/20000)+1)
  --batch B               streams opened per batch; waits for every response header (500)
  --header-timeout S      per-batch wait for the response headers (10)
  --settle S              idle time after opening, before reading RSS (3)
  --rounds R              latency rounds (5)
  --round-timeout S       per-round deadline (30)
  --round-gap S           idle time between rounds (0.5)

Memory:
  --pid PID[,PID...]      server process(es) whose VmRSS is read (repeatable)
  --with-children         also sum VmRSS over all descendants (nginx master + workers)

Output:
  --json                  print one JSON object instead of the key=value line
  --free-port             print a free TCP port on 127.0.0.1 and exit
)",
        stderr);
}

Options parse_options(int argc, char** argv) {
    Options o;
    bool name_set = false;
    auto need = [&](int& i) -> std::string {
        if (i + 1 >= argc) die(std::string("missing value for ") + argv[i]);
        return argv[++i];
    };
    auto num = [&](const std::string& v, const char* flag) -> double {
        char* end = nullptr;
        double d = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !(d >= 0)) die(std::string("bad value for ") + flag);
        return d;
    };
    auto strip_slash = [](std::string b) {
        while (!b.empty() && b.back() == '/') b.pop_back();
        return b;
    };
    std::string preset_name;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else if (a == "--silod") {
            std::string b = strip_slash(need(i));
            o.url = b + "/api/events";
            o.trigger_url = b + "/api/items";
            preset_name = "silod";
        } else if (a == "--nchan") {
            std::string b = strip_slash(need(i));
            o.url = b + "/sub";
            o.trigger_url = b + "/pub";
            preset_name = "nchan";
        } else if (a == "--url") {
            o.url = need(i);
        } else if (a == "--trigger-url") {
            o.trigger_url = need(i);
        } else if (a == "--trigger-body") {
            o.trigger_body = need(i);
        } else if (a == "--name") {
            o.name = need(i);
            name_set = true;
        } else if (a == "--token") {
            o.token = need(i);
        } else if (a == "--token-file") {
            o.token_file = need(i);
        } else if (a == "--n") {
            o.n = static_cast<int>(num(need(i), "--n"));
        } else if (a == "--sources") {
            o.sources = static_cast<int>(num(need(i), "--sources"));
        } else if (a == "--batch") {
            o.batch = static_cast<int>(num(need(i), "--batch"));
        } else if (a == "--header-timeout") {
            o.header_timeout_s = num(need(i), "--header-timeout");
        } else if (a == "--settle") {
            o.settle_s = num(need(i), "--settle");
        } else if (a == "--rounds") {
            o.rounds = static_cast<int>(num(need(i), "--rounds"));
        } else if (a == "--round-timeout") {
            o.round_timeout_s = num(need(i), "--round-timeout");
        } else if (a == "--round-gap") {
            o.round_gap_s = num(need(i), "--round-gap");
        } else if (a == "--pid") {
            std::string v = need(i);
            size_t pos = 0;
            while (pos <= v.size()) {
                size_t comma = v.find(',', pos);
                std::string part = v.substr(pos, comma == std::string::npos ? comma : comma - pos);
                if (!part.empty()) o.pids.push_back(static_cast<int>(num(part, "--pid")));
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else if (a == "--with-children") {
            o.with_children = true;
        } else if (a == "--json") {
            o.json = true;
        } else {
            usage();
            die("unknown option " + a);
        }
    }
    if (!name_set && !preset_name.empty()) o.name = preset_name;
    if (o.url.empty()) die("give --silod BASE, --nchan BASE or --url URL (see --help)");
    if (o.n < 1 || o.n > 1000000) die("--n must be in 1..1000000");
    if (o.batch < 1) o.batch = 1;
    if (o.rounds < 0 || o.rounds > 1000) die("--rounds must be in 0..1000");
    if (o.sources == 0) o.sources = (o.n + 19999) / 20000 + 1;
    if (o.sources < 1 || o.sources > 254) die("--sources must be in 1..254");
    if (o.round_timeout_s > 3600 || o.header_timeout_s > 3600 || o.settle_s > 3600 ||
        o.round_gap_s > 3600)
        die("timeouts are capped at 3600 s");
    return o;
}

// ---------------------------------------------------------------------------------------------
// SSE stream connection state

enum class St : uint8_t { Connecting, Sending, WaitHeader, Streaming, Closed };
enum class Chunk : uint8_t { Size, SizeExt, SizeLF, Data, DataCR, DataLF, Done };

struct Conn {
    int fd = -1;
    St st = St::Closed;
    bool chunked = false;
    Chunk cst = Chunk::Size;
    bool last_cr = false;       // previous body byte was '\r' (for "\r\n" as one terminator)
    bool blk_data = false;      // current SSE block has a data: field
    bool blk_heartbeat = false; // current SSE block has event: heartbeat
    bool blk_match = false;     // a data: line of this block contains the round marker
    uint32_t sent = 0;          // request bytes written
    uint32_t req = 0;           // index of the request string used
    uint64_t chunk_left = 0;
    int last_round = 0;         // last round whose event this stream received
    std::string buf;            // header bytes, then a partial SSE line
};

enum class Fail { Connect, Status, ContentType, HeaderTimeout, EofBeforeHeader, BadHeader };

const char* fail_name(Fail f) {
    switch (f) {
        case Fail::Connect: return "connect_error";
        case Fail::Status: return "http_status";
        case Fail::ContentType: return "not_event_stream";
        case Fail::HeaderTimeout: return "header_timeout";
        case Fail::EofBeforeHeader: return "eof_before_header";
        case Fail::BadHeader: return "bad_header";
    }
    return "?";
}

constexpr uint64_t kTriggerTag = ~0ull;

struct Trigger {
    int fd = -1;
    bool active = false;
    bool done = false;
    bool ok = false;
    int status = 0;
    int64_t t_done = 0;
    std::string out;
    size_t sent = 0;
    std::string in;
    std::string error;
};

class Bench {
public:
    explicit Bench(Options o) : opt_(std::move(o)) {}
    int run();

private:
    // setup
    void build_requests();
    void raise_fd_limit();
    // opening
    bool start_connect(size_t i);
    void fail_conn(size_t i, Fail why, const std::string& detail = {});
    void close_conn(size_t i);
    // event loop
    void pump_until(int64_t deadline_ns, const std::function<bool()>& done);
    void on_stream_event(size_t i, uint32_t ev);
    void on_stream_writable(size_t i);
    void on_stream_readable(size_t i);
    bool handle_header(size_t i);  // false when the connection was failed/closed
    void feed_body(size_t i, const char* p, size_t n);
    void feed_sse(size_t i, const char* p, size_t n);
    void sse_line(size_t i, std::string_view line);
    void sse_dispatch(size_t i);
    void on_dropped(size_t i);
    // trigger
    bool start_trigger(const std::string& marker);
    void on_trigger_event(uint32_t ev);
    void finish_trigger(bool ok, const std::string& err);
    // results
    void print_result();

    Options opt_;
    Url url_;
    std::optional<Url> trig_url_;
    std::vector<std::string> requests_;
    int ep_ = -1;
    std::vector<Conn> conns_;
    std::vector<int64_t> arrival_;  // per stream, ns since t0 of the current round (-1: none)
    char rbuf_[65536];

    // counters
    int pending_ = 0;  // connections of the current batch without a response header yet
    int open_ = 0;     // streams with a 200 event-stream header and not closed
    int failed_ = 0;
    std::map<std::string, int> fail_reasons_;
    std::string first_fail_detail_;
    int dropped_ = 0;
    long heartbeats_ = 0;
    long stray_events_ = 0;
    long events_total_ = 0;

    // current round
    int round_ = 0;
    bool round_active_ = false;
    std::string marker_;
    int64_t t0_ = 0;
    int remaining_ = 0;
    Trigger trig_;

    // results
    RssSample rss_before_, rss_after_open_, rss_after_rounds_;
    int open_at_rss_ = 0;
    struct RoundResult {
        int round;
        bool trigger_ok;
        int trigger_status;
        double trigger_ms;
        double last_ms;   // t_last - t0 (NaN if nobody received)
        double p50_ms;    // median per-stream arrival
        double p99_ms;
        int received;
        int missed;
        bool complete;
    };
    std::vector<RoundResult> rounds_;
    double open_s_ = 0;
};

void Bench::raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit failed");
    rlim_t want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rlimit nr = rl;
        nr.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &nr) != 0)
            logf("warning: could not raise RLIMIT_NOFILE to %llu: %s",
                 static_cast<unsigned long long>(want), std::strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = static_cast<rlim_t>(opt_.n) + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        die("--n " + std::to_string(opt_.n) + " needs about " + std::to_string(need) +
            " file descriptors but the limit is " + std::to_string(rl.rlim_cur));
}

void Bench::build_requests() {
    std::vector<std::string> tokens;
    if (!opt_.token_file.empty()) {
        FILE* f = std::fopen(opt_.token_file.c_str(), "r");
        if (!f) die("cannot read --token-file " + opt_.token_file);
        char line[4096];
        while (std::fgets(line, sizeof line, f)) {
            std::string t(trim(line));
            while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
            if (!t.empty()) tokens.push_back(t);
        }
        std::fclose(f);
        if (tokens.empty()) die("--token-file holds no token");
    } else {
        tokens.push_back(opt_.token);  // may be empty: no Authorization header
    }
    for (const auto& tok : tokens) {
        std::string r = "GET " + url_.target + " HTTP/1.1\r\nHost: " + url_.host +
                        "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
        if (!tok.empty()) r += "Authorization: Bearer " + tok + "\r\n";
        r += "User-Agent: sse_bench\r\n\r\n";
        requests_.push_back(std::move(r));
    }
}

void Bench::close_conn(size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }
    c.st = St::Closed;
    std::string().swap(c.buf);
}

void Bench::fail_conn(size_t i, Fail why, const std::string& detail) {
    Conn& c = conns_[i];
    bool was_pending = c.st == St::Connecting || c.st == St::Sending || c.st == St::WaitHeader;
    close_conn(i);
    if (was_pending) --pending_;
    ++failed_;
    ++fail_reasons_[fail_name(why)];
    if (first_fail_detail_.empty())
        first_fail_detail_ = std::string(fail_name(why)) + (detail.empty() ? "" : ": " + detail);
}

bool Bench::start_connect(size_t i) {
    Conn& c = conns_[i];
    c.req = static_cast<uint32_t>(i % requests_.size());
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ++failed_;
        ++fail_reasons_["socket_error"];
        if (first_fail_detail_.empty()) first_fail_detail_ = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_port = 0;
    src.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(1 + i % opt_.sources));
    c.fd = fd;
    c.st = St::Connecting;
    ++pending_;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        fail_conn(i, Fail::Connect, std::string("bind: ") + std::strerror(errno));
        return false;
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(url_.port);
    dst.sin_addr = url_.addr;
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    if (r != 0 && errno != EINPROGRESS) {
        fail_conn(i, Fail::Connect, std::string("connect: ") + std::strerror(errno));
        return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fail_conn(i, Fail::Connect, std::string("epoll_ctl: ") + std::strerror(errno));
        return false;
    }
    return true;
}

void Bench::pump_until(int64_t deadline_ns, const std::function<bool()>& done) {
    constexpr int kMax = 4096;
    static epoll_event evs[kMax];
    while (!g_interrupted && !done()) {
        int64_t left = deadline_ns - now_ns();
        if (left <= 0) break;
        int ms = static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, 100));
        int n = epoll_wait(ep_, evs, kMax, ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            die(std::string("epoll_wait: ") + std::strerror(errno));
        }
        for (int k = 0; k < n; ++k) {
            if (evs[k].data.u64 == kTriggerTag)
                on_trigger_event(evs[k].events);
            else
                on_stream_event(static_cast<size_t>(evs[k].data.u64), evs[k].events);
        }
    }
}

void Bench::on_stream_event(size_t i, uint32_t ev) {
    Conn& c = conns_[i];
    if (c.st == St::Closed) return;
    if (c.st == St::Connecting || c.st == St::Sending) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_stream_writable(i);
        if (c.st == St::Closed) return;
        if (c.st == St::Connecting || c.st == St::Sending) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_stream_readable(i);
}

void Bench::on_stream_writable(size_t i) {
    Conn& c = conns_[i];
    if (c.st == St::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail_conn(i, Fail::Connect, std::string("connect: ") + std::strerror(err));
            return;
        }
        c.st = St::Sending;
    }
    const std::string& r = requests_[c.req];
    while (c.sent < r.size()) {
        ssize_t w = ::send(c.fd, r.data() + c.sent, r.size() - c.sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // wait for EPOLLOUT again
            if (errno == EINTR) continue;
            fail_conn(i, Fail::Connect, std::string("send: ") + std::strerror(errno));
            return;
        }
        c.sent += static_cast<uint32_t>(w);
    }
    c.st = St::WaitHeader;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Bench::on_dropped(size_t i) {
    Conn& c = conns_[i];
    bool waiting = round_active_ && c.last_round != round_;
    close_conn(i);
    --open_;
    ++dropped_;
    if (waiting) --remaining_;
}

void Bench::on_stream_readable(size_t i) {
    // Level-triggered: read a bounded number of times, the rest comes on the next wakeup.
    for (int iter = 0; iter < 4; ++iter) {
        Conn& c = conns_[i];
        if (c.st == St::Closed) return;
        ssize_t n = ::recv(c.fd, rbuf_, sizeof rbuf_, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            if (c.st == St::WaitHeader)
                fail_conn(i, Fail::EofBeforeHeader, std::strerror(errno));
            else
                on_dropped(i);
            return;
        }
        if (n == 0) {
            if (c.st == St::WaitHeader)
                fail_conn(i, Fail::EofBeforeHeader, "connection closed before the response header");
            else
                on_dropped(i);
            return;
        }
        if (c.st == St::WaitHeader) {
            c.buf.append(rbuf_, static_cast<size_t>(n));
            if (!handle_header(i)) return;
        } else {
            feed_body(i, rbuf_, static_cast<size_t>(n));
        }
        if (static_cast<size_t>(n) < sizeof rbuf_) return;
    }
}

// Parses the response header once complete. Returns false if the connection is gone or the
// header is still incomplete.
bool Bench::handle_header(size_t i) {
    Conn& c = conns_[i];
    size_t end = c.buf.find("\r\n\r\n");
    size_t sep = 4;
    if (end == std::string::npos) {
        end = c.buf.find("\n\n");
        sep = 2;
    }
    if (end == std::string::npos) {
        if (c.buf.size() > 32768) fail_conn(i, Fail::BadHeader, "response header over 32 KiB");
        return false;
    }
    std::string_view head(c.buf.data(), end);
    size_t eol = head.find('\n');
    std::string_view status_line = trim(head.substr(0, eol));
    int status = 0;
    if (status_line.size() >= 12 && status_line.substr(0, 5) == "HTTP/")
        status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    bool chunked = false, event_stream = false;
    size_t pos = eol == std::string_view::npos ? head.size() : eol + 1;
    while (pos < head.size()) {
        size_t e = head.find('\n', pos);
        std::string_view line = head.substr(pos, e == std::string_view::npos ? head.size() - pos : e - pos);
        pos = e == std::string_view::npos ? head.size() : e + 1;
        line = trim(line);
        if (iequals_prefix(line, "transfer-encoding:") && icontains(line, "chunked")) chunked = true;
        if (iequals_prefix(line, "content-type:") && icontains(line, "text/event-stream"))
            event_stream = true;
    }
    if (status != 200) {
        std::string body = c.buf.substr(end + sep, 200);
        fail_conn(i, Fail::Status,
                  std::string(status_line) + (body.empty() ? "" : " body: " + body));
        return false;
    }
    if (!event_stream) {
        fail_conn(i, Fail::ContentType, "Content-Type is not text/event-stream");
        return false;
    }
    c.st = St::Streaming;
    c.chunked = chunked;
    c.cst = Chunk::Size;
    c.chunk_left = 0;
    --pending_;
    ++open_;
    std::string rest = c.buf.substr(end + sep);
    std::string().swap(c.buf);
    if (!rest.empty()) feed_body(i, rest.data(), rest.size());
    return conns_[i].st != St::Closed;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

// Removes chunked transfer framing (if any) and passes the payload to the SSE parser.
void Bench::feed_body(size_t i, const char* p, size_t n) {
    Conn& c = conns_[i];
    if (!c.chunked) {
        feed_sse(i, p, n);
        return;
    }
    size_t k = 0;
    while (k < n && conns_[i].st == St::Streaming) {
        switch (c.cst) {
            case Chunk::Size: {
                int h = hexval(p[k]);
                if (h >= 0) {
                    c.chunk_left = c.chunk_left * 16 + static_cast<uint64_t>(h);
                    ++k;
                } else if (p[k] == '\r') {
                    c.cst = Chunk::SizeLF;
                    ++k;
                } else if (p[k] == '\n') {
                    ++k;
                    c.cst = c.chunk_left ? Chunk::Data : Chunk::Done;
                } else {
                    c.cst = Chunk::SizeExt;  // ';' extension or whitespace
                    ++k;
                }
                break;
            }
            case Chunk::SizeExt:
                if (p[k] == '\n') c.cst = c.chunk_left ? Chunk::Data : Chunk::Done;
                ++k;
                break;
            case Chunk::SizeLF:
                if (p[k] == '\n') {
                    ++k;
                    c.cst = c.chunk_left ? Chunk::Data : Chunk::Done;
                } else {
                    c.cst = Chunk::SizeExt;
                }
                break;
            case Chunk::Data: {
                size_t take = static_cast<size_t>(std::min<uint64_t>(c.chunk_left, n - k));
                feed_sse(i, p + k, take);
                k += take;
                c.chunk_left -= take;
                if (c.chunk_left == 0) c.cst = Chunk::DataCR;
                break;
            }
            case Chunk::DataCR:
                if (p[k] == '\r') {
                    c.cst = Chunk::DataLF;
                    ++k;
                } else if (p[k] == '\n') {
                    c.cst = Chunk::Size;
                    ++k;
                } else {
                    c.cst = Chunk::Size;  // tolerate a missing CRLF
                }
                break;
            case Chunk::DataLF:
                if (p[k] == '\n') ++k;
                c.cst = Chunk::Size;
                break;
            case Chunk::Done:
                k = n;  // trailers: ignore; the server ended the body
                break;
        }
        if (c.cst == Chunk::Done) {
            // Last chunk: the server ended the stream.
            on_dropped(i);
            return;
        }
    }
}

// SSE line splitter: lines end with "\r\n", "\n" or "\r".
void Bench::feed_sse(size_t i, const char* p, size_t n) {
    size_t k = 0;
    while (k < n) {
        Conn& c = conns_[i];
        if (c.st != St::Streaming) return;
        if (c.last_cr) {
            c.last_cr = false;
            if (p[k] == '\n') {
                ++k;
                continue;
            }
        }
        const char* start = p + k;
        size_t left = n - k;
        const char* nl = static_cast<const char*>(std::memchr(start, '\n', left));
        const char* cr = static_cast<const char*>(std::memchr(start, '\r', nl ? static_cast<size_t>(nl - start) : left));
        const char* term = cr ? cr : nl;
        if (!term) {
            if (c.buf.size() + left > (1u << 20)) {  // absurd line: drop what we have
                c.buf.clear();
            }
            c.buf.append(start, left);
            return;
        }
        size_t len = static_cast<size_t>(term - start);
        if (c.buf.empty()) {
            sse_line(i, std::string_view(start, len));
        } else {
            c.buf.append(start, len);
            std::string line;
            line.swap(c.buf);
            sse_line(i, line);
        }
        k += len + 1;
        if (term == cr) conns_[i].last_cr = true;
    }
}

void Bench::sse_line(size_t i, std::string_view line) {
    Conn& c = conns_[i];
    if (line.empty()) {
        sse_dispatch(i);
        return;
    }
    if (line.front() == ':') return;  // comment
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        c.blk_data = true;
        if (round_active_ && !marker_.empty() && value.find(marker_) != std::string_view::npos)
            c.blk_match = true;
    } else if (field == "event") {
        c.blk_heartbeat = value == "heartbeat";
    }
    // id:, retry: and unknown fields do not matter for timing.
}

void Bench::sse_dispatch(size_t i) {
    Conn& c = conns_[i];
    bool had_data = c.blk_data, hb = c.blk_heartbeat, match = c.blk_match;
    c.blk_data = c.blk_heartbeat = c.blk_match = false;
    if (!had_data) return;  // comment-only or id-only block: no event per the SSE spec
    if (hb) {
        ++heartbeats_;
        return;
    }
    ++events_total_;
    if (round_active_ && match && c.last_round != round_) {
        c.last_round = round_;
        arrival_[i] = now_ns() - t0_;
        --remaining_;
    } else {
        ++stray_events_;
    }
}

// ---------------------------------------------------------------------------------------------
// Trigger: one POST per round, from the same event loop.

bool Bench::start_trigger(const std::string& marker) {
    trig_ = Trigger{};
    if (!trig_url_) {
        trig_.error = "no --trigger-url";
        return false;
    }
    std::string body = opt_.trigger_body;
    for (size_t p = body.find("{pn}"); p != std::string::npos; p = body.find("{pn}", p + marker.size()))
        body.replace(p, 4, marker);
    std::string r = "POST " + trig_url_->target + " HTTP/1.1\r\nHost: " + trig_url_->host +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
    if (!opt_.token.empty()) r += "Authorization: Bearer " + opt_.token + "\r\n";
    r += "User-Agent: sse_bench\r\n\r\n" + body;
    trig_.out = std::move(r);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        trig_.error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(trig_url_->port);
    dst.sin_addr = trig_url_->addr;
    int r2 = ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    if (r2 != 0 && errno != EINPROGRESS) {
        trig_.error = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        return false;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = kTriggerTag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        trig_.error = std::string("epoll_ctl: ") + std::strerror(errno);
        ::close(fd);
        return false;
    }
    trig_.fd = fd;
    trig_.active = true;
    return true;
}

void Bench::finish_trigger(bool ok, const std::string& err) {
    if (trig_.fd >= 0) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, trig_.fd, nullptr);
        ::close(trig_.fd);
        trig_.fd = -1;
    }
    trig_.active = false;
    trig_.done = true;
    trig_.ok = ok;
    trig_.t_done = now_ns();
    if (!err.empty()) trig_.error = err;
}

void Bench::on_trigger_event(uint32_t ev) {
    if (!trig_.active) return;
    if (trig_.sent < trig_.out.size() && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(trig_.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            finish_trigger(false, std::string("connect: ") + std::strerror(err));
            return;
        }
        while (trig_.sent < trig_.out.size()) {
            ssize_t w = ::send(trig_.fd, trig_.out.data() + trig_.sent, trig_.out.size() - trig_.sent,
                               MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                if (errno == EINTR) continue;
                finish_trigger(false, std::string("send: ") + std::strerror(errno));
                return;
            }
            trig_.sent += static_cast<size_t>(w);
        }
        epoll_event e{};
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.u64 = kTriggerTag;
        epoll_ctl(ep_, EPOLL_CTL_MOD, trig_.fd, &e);
    }
    if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    for (int iter = 0; iter < 16; ++iter) {
        char buf[8192];
        ssize_t n = ::recv(trig_.fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (trig_.status == 0) {
                finish_trigger(false, std::string("recv: ") + std::strerror(errno));
                return;
            }
            n = 0;
        }
        if (n == 0) {
            // Connection: close answered; judge by the status line.
            bool ok = trig_.status >= 200 && trig_.status < 300;
            finish_trigger(ok, ok ? "" : "HTTP " + std::to_string(trig_.status) + ": " + trig_.in.substr(0, 300));
            return;
        }
        if (trig_.in.size() < 65536) trig_.in.append(buf, static_cast<size_t>(n));
        if (trig_.status == 0 && trig_.in.size() >= 12 && trig_.in.compare(0, 5, "HTTP/") == 0)
            trig_.status = std::atoi(trig_.in.substr(9, 3).c_str());
        // Finished without waiting for close when Content-Length says so.
        size_t he = trig_.in.find("\r\n\r\n");
        if (he != std::string::npos) {
            std::string_view head(trig_.in.data(), he);
            size_t cl_pos = std::string::npos;
            for (size_t q = 0; q < head.size(); ++q)
                if ((q == 0 || head[q - 1] == '\n') && iequals_prefix(head.substr(q), "content-length:")) {
                    cl_pos = q + 15;
                    break;
                }
            if (cl_pos != std::string::npos) {
                size_t cl = static_cast<size_t>(std::strtoull(trig_.in.c_str() + cl_pos, nullptr, 10));
                if (trig_.in.size() >= he + 4 + cl) {
                    bool ok = trig_.status >= 200 && trig_.status < 300;
                    finish_trigger(ok, ok ? "" : "HTTP " + std::to_string(trig_.status) + ": " + trig_.in.substr(he + 4, 300));
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

int Bench::run() {
    url_ = parse_url(opt_.url);
    if (!opt_.trigger_url.empty()) trig_url_ = parse_url(opt_.trigger_url);
    raise_fd_limit();
    build_requests();
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1 failed");

    // 1. Memory before any stream.
    rss_before_ = sample_rss(opt_.pids, opt_.with_children);
    if (!opt_.pids.empty() && rss_before_.total_kb < 0)
        die("cannot read VmRSS of --pid (is the process running?)");

    // 2. Open N streams in batches, waiting for the response headers of each batch.
    conns_.resize(static_cast<size_t>(opt_.n));
    arrival_.assign(static_cast<size_t>(opt_.n), -1);
    int64_t t_open = now_ns();
    logf("%s: opening %d streams to %s from 127.0.0.1..127.0.0.%d in batches of %d",
         opt_.name.c_str(), opt_.n, opt_.url.c_str(), opt_.sources, opt_.batch);
    for (int b = 0; b < opt_.n && !g_interrupted; b += opt_.batch) {
        int e = std::min(opt_.n, b + opt_.batch);
        for (int i = b; i < e; ++i) start_connect(static_cast<size_t>(i));
        int64_t deadline = now_ns() + static_cast<int64_t>(opt_.header_timeout_s * 1e9);
        pump_until(deadline, [&] { return pending_ == 0; });
        for (int i = b; i < e; ++i) {
            St s = conns_[static_cast<size_t>(i)].st;
            if (s == St::Connecting || s == St::Sending || s == St::WaitHeader)
                fail_conn(static_cast<size_t>(i), Fail::HeaderTimeout, "no response header in time");
        }
        if (b == 0 && open_ == 0) {
            logf("the first batch opened no stream (%s); giving up", first_fail_detail_.c_str());
            int skipped = opt_.n - e;
            if (skipped > 0) {
                failed_ += skipped;
                fail_reasons_["not_attempted"] += skipped;
            }
            break;
        }
        if (((b / opt_.batch) % 10) == 9 || e == opt_.n)
            logf("%s: %d open, %d failed", opt_.name.c_str(), open_, failed_);
    }
    open_s_ = static_cast<double>(now_ns() - t_open) / 1e9;
    if (!first_fail_detail_.empty()) logf("first failure: %s", first_fail_detail_.c_str());

    // 3. Settle, then memory with all streams idle.
    if (open_ > 0) {
        pump_until(now_ns() + static_cast<int64_t>(opt_.settle_s * 1e9), [] { return false; });
        rss_after_open_ = sample_rss(opt_.pids, opt_.with_children);
        open_at_rss_ = open_;
    }

    // 4. Latency rounds.
    std::mt19937_64 rng(static_cast<uint64_t>(now_ns()) ^ static_cast<uint64_t>(getpid()));
    for (int r = 1; r <= opt_.rounds && open_ > 0 && !g_interrupted; ++r) {
        char mk[64];
        std::snprintf(mk, sizeof mk, "BENCH-%d-%08" PRIx64, r, rng() & 0xffffffffu);
        marker_ = mk;
        round_ = r;
        std::fill(arrival_.begin(), arrival_.end(), -1);
        remaining_ = open_;
        round_active_ = true;
        t0_ = now_ns();
        bool started = start_trigger(marker_);
        int64_t deadline = t0_ + static_cast<int64_t>(opt_.round_timeout_s * 1e9);
        if (started) {
            pump_until(deadline, [&] {
                if (trig_.done && !trig_.ok) return true;
                return remaining_ <= 0 && trig_.done;
            });
            if (trig_.active) finish_trigger(false, "no trigger response within the round timeout");
        }
        round_active_ = false;
        RoundResult rr{};
        rr.round = r;
        rr.trigger_ok = trig_.ok;
        rr.trigger_status = trig_.status;
        rr.trigger_ms = trig_.done ? ns_to_ms(trig_.t_done - t0_) : NAN;
        std::vector<double> arr;
        arr.reserve(static_cast<size_t>(open_));
        int64_t last = -1;
        for (int64_t a : arrival_)
            if (a >= 0) {
                arr.push_back(ns_to_ms(a));
                last = std::max(last, a);
            }
        rr.received = static_cast<int>(arr.size());
        // A round whose trigger failed published nothing: it counts in trigger_failed, not missed.
        rr.missed = trig_.ok ? std::max(0, remaining_) : 0;
        rr.complete = rr.missed == 0 && rr.received > 0;
        rr.last_ms = last >= 0 ? ns_to_ms(last) : NAN;
        rr.p50_ms = percentile(arr, 50);
        rr.p99_ms = percentile(arr, 99);
        rounds_.push_back(rr);
        if (!trig_.ok)
            logf("round %d: trigger failed: %s", r, trig_.error.c_str());
        logf("round %d: %d/%d received, last %.1f ms, p50 %.1f ms, trigger %d in %.1f ms%s", r,
             rr.received, rr.received + rr.missed, rr.last_ms, rr.p50_ms, rr.trigger_status,
             rr.trigger_ms, rr.missed ? " (MISSED some)" : "");
        marker_.clear();
        if (r < opt_.rounds)
            pump_until(now_ns() + static_cast<int64_t>(opt_.round_gap_s * 1e9), [] { return false; });
    }
    if (open_ > 0) rss_after_rounds_ = sample_rss(opt_.pids, opt_.with_children);

    // 5. Tear down: close every stream this process holds.
    for (size_t i = 0; i < conns_.size(); ++i)
        if (conns_[i].fd >= 0) close_conn(i);
    ::close(ep_);
    ep_ = -1;

    print_result();
    if (g_interrupted) return 130;
    if (open_at_rss_ == 0) return 1;
    bool any_ok = opt_.rounds == 0;
    for (auto& r : rounds_) any_ok = any_ok || (r.trigger_ok && r.received > 0);
    return any_ok ? 0 : 1;
}

void Bench::print_result() {
    long per_stream = -1;
    if (rss_before_.total_kb >= 0 && rss_after_open_.total_kb >= 0 && open_at_rss_ > 0)
        per_stream = static_cast<long>(std::llround(
            static_cast<double>(rss_after_open_.total_kb - rss_before_.total_kb) * 1024.0 /
            static_cast<double>(open_at_rss_)));
    long per_stream_after = -1;
    if (rss_before_.total_kb >= 0 && rss_after_rounds_.total_kb >= 0 && open_at_rss_ > 0)
        per_stream_after = static_cast<long>(std::llround(
            static_cast<double>(rss_after_rounds_.total_kb - rss_before_.total_kb) * 1024.0 /
            static_cast<double>(open_at_rss_)));
    std::vector<double> lasts, p50s, p99s;
    int missed_total = 0, trigger_failed = 0;
    for (auto& r : rounds_) {
        missed_total += r.missed;
        if (!r.trigger_ok) ++trigger_failed;
        if (!std::isnan(r.last_ms) && r.trigger_ok) {
            lasts.push_back(r.last_ms);
            p50s.push_back(r.p50_ms);
            p99s.push_back(r.p99_ms);
        }
    }
    double fan_med = median(lasts);
    double fan_min = lasts.empty() ? NAN : *std::min_element(lasts.begin(), lasts.end());
    double fan_max = lasts.empty() ? NAN : *std::max_element(lasts.begin(), lasts.end());
    double p50_med = median(p50s);
    double p99_med = median(p99s);
    auto num = [](double v) -> std::string {
        if (std::isnan(v)) return "null";
        char b[32];
        std::snprintf(b, sizeof b, "%.1f", v);
        return b;
    };
    auto num0 = [](double v) -> std::string {
        if (std::isnan(v)) return "null";
        char b[32];
        std::snprintf(b, sizeof b, "%.0f", v);
        return b;
    };
    std::string reasons;
    for (auto& [k, v] : fail_reasons_) reasons += (reasons.empty() ? "" : ",") + k + ":" + std::to_string(v);

    if (opt_.json) {
        std::string j = "{";
        j += "\"server\":\"" + json_escape(opt_.name) + "\"";
        j += ",\"n\":" + std::to_string(opt_.n);
        j += ",\"open\":" + std::to_string(open_at_rss_);
        j += ",\"failed_connects\":" + std::to_string(failed_);
        j += ",\"fail_reasons\":{";
        bool first = true;
        for (auto& [k, v] : fail_reasons_) {
            j += std::string(first ? "" : ",") + "\"" + k + "\":" + std::to_string(v);
            first = false;
        }
        j += "}";
        j += ",\"first_failure\":\"" + json_escape(first_fail_detail_) + "\"";
        j += ",\"open_seconds\":" + num(open_s_);
        j += ",\"rss_processes\":" + std::to_string(rss_before_.processes);
        j += ",\"rss_before_kb\":" + std::to_string(rss_before_.total_kb);
        j += ",\"rss_open_kb\":" + std::to_string(rss_after_open_.total_kb);
        j += ",\"rss_after_rounds_kb\":" + std::to_string(rss_after_rounds_.total_kb);
        j += ",\"rss_per_stream_bytes\":" + (per_stream >= 0 ? std::to_string(per_stream) : "null");
        j += ",\"rss_per_stream_after_rounds_bytes\":" +
             (per_stream_after >= 0 ? std::to_string(per_stream_after) : "null");
        j += ",\"rounds\":" + std::to_string(rounds_.size());
        j += ",\"fanout_median_ms\":" + num(fan_med);
        j += ",\"fanout_min_ms\":" + num(fan_min);
        j += ",\"fanout_max_ms\":" + num(fan_max);
        j += ",\"arrival_p50_ms\":" + num(p50_med);
        j += ",\"arrival_p99_ms\":" + num(p99_med);
        j += ",\"missed\":" + std::to_string(missed_total);
        j += ",\"trigger_failed\":" + std::to_string(trigger_failed);
        j += ",\"dropped\":" + std::to_string(dropped_);
        j += ",\"heartbeats\":" + std::to_string(heartbeats_);
        j += ",\"stray_events\":" + std::to_string(stray_events_);
        j += ",\"round_detail\":[";
        for (size_t k = 0; k < rounds_.size(); ++k) {
            auto& r = rounds_[k];
            j += std::string(k ? "," : "") + "{\"round\":" + std::to_string(r.round) +
                 ",\"trigger_status\":" + std::to_string(r.trigger_status) +
                 ",\"trigger_ms\":" + num(r.trigger_ms) + ",\"last_ms\":" + num(r.last_ms) +
                 ",\"p50_ms\":" + num(r.p50_ms) + ",\"p99_ms\":" + num(r.p99_ms) +
                 ",\"received\":" + std::to_string(r.received) +
                 ",\"missed\":" + std::to_string(r.missed) + "}";
        }
        j += "]}";
        std::printf("%s\n", j.c_str());
    } else {
        std::printf(
            "server=%s N=%d open=%d rss_per_stream_bytes=%s fanout_median_ms=%s fanout_min_ms=%s "
            "fanout_max_ms=%s arrival_p50_ms=%s arrival_p99_ms=%s rounds=%zu missed=%d "
            "trigger_failed=%d dropped=%d failed_connects=%d%s%s rss_before_kb=%ld rss_open_kb=%ld "
            "rss_after_rounds_kb=%ld rss_per_stream_after_rounds_bytes=%s open_s=%.1f\n",
            opt_.name.c_str(), opt_.n, open_at_rss_,
            per_stream >= 0 ? std::to_string(per_stream).c_str() : "n/a", num0(fan_med).c_str(),
            num0(fan_min).c_str(), num0(fan_max).c_str(), num0(p50_med).c_str(),
            num0(p99_med).c_str(), rounds_.size(), missed_total, trigger_failed, dropped_, failed_,
            reasons.empty() ? "" : " fail_reasons=", reasons.c_str(), rss_before_.total_kb,
            rss_after_open_.total_kb, rss_after_rounds_.total_kb,
            per_stream_after >= 0 ? std::to_string(per_stream_after).c_str() : "n/a", open_s_);
    }
    std::fflush(stdout);
}

int print_free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind failed");
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("%d\n", ntohs(a.sin_port));
    ::close(fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--free-port") == 0) return print_free_port();
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    Options o = parse_options(argc, argv);
    Bench b(std::move(o));
    return b.run();
}
