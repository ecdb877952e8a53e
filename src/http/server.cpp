#include "http/server.hpp"

#include "http/beast.hpp"
#include "http/framing.hpp"
#include "http/request_head.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

#include <boost/beast/http/file_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <unistd.h>

namespace silo::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// On every answer (docs/security.md): no MIME sniffing, no referrer, never framed, no content
// of ours to load anywhere (the API answers JSON and event streams only).
constexpr std::pair<const char*, const char*> kSecurityHeaders[] = {
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
};

std::string security_header_lines() {
    std::string out;
    for (const auto& [name, value] : kSecurityHeaders) out += std::string(name) + ": " + value + "\r\n";
    return out;
}

constexpr std::size_t kMaxIgnoredBody = 65536;
constexpr std::size_t kHeadChunk = 4096;
constexpr std::size_t kDrainChunk = 16384;
constexpr std::size_t kMaxDrain = 64 * 1024 * 1024;

// The after_response() list of the request a worker is handling; null elsewhere.
thread_local std::vector<std::function<void()>>* t_after_response = nullptr;

void run_all(std::vector<std::function<void()>>& fns) {
    for (auto& fn : fns) {
        try {
            fn();
        } catch (const std::exception& e) {
            log::error("after-response work threw", {{"what", e.what()}});
        }
    }
}

}  // namespace

void after_response(std::function<void()> fn) {
    if (t_after_response) {
        t_after_response->push_back(std::move(fn));
        return;
    }
    fn();
}

// ---------------------------------------------------------------------------------------------
// SSE stream: owns the socket once the event-stream header is written. I/O thread only.

class SseStream final : public StreamSink, public std::enable_shared_from_this<SseStream> {
public:
    // head: the response header, written first when the stream starts; frames sent before
    // then queue behind it.
    SseStream(tcp::socket socket, std::size_t queue_limit, std::function<void()> on_end, std::string head)
        : socket_(std::move(socket)), limit_(queue_limit), on_end_(std::move(on_end)) {
        queue_.push_back(std::make_shared<const std::string>(std::move(head)));
    }

    void start() {
        if (closed_) return;
        beast::error_code ec;
        socket_.non_blocking(true, ec);
        started_ = true;
        read_some();
        write_next();
    }

    bool send(std::shared_ptr<const std::string> frame) override {
        if (closed_) return false;
        if (started_ && !writing_) {
            // Idle stream: write straight away (one syscall, no queued operation); only what
            // the socket does not take now is queued.
            beast::error_code ec;
            std::size_t n = socket_.write_some(asio::buffer(*frame), ec);
            if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
                close();
                return false;
            }
            if (n == frame->size()) return true;
            offset_ = n;
            queue_.push_back(std::move(frame));
            write_next();
            return true;
        }
        if (queue_.size() - head_ >= limit_) {
            // A reader that cannot keep up is dropped; it reconnects and replays.
            close();
            return false;
        }
        queue_.push_back(std::move(frame));
        return true;
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        queue_.clear();
        queue_.shrink_to_fit();
        head_ = 0;
        beast::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
        finish();
    }

    bool closed() const override { return closed_; }

    // Whether frames have waited longer than `limit` for the socket to take any of them (the
    // client stopped reading): such a stream is closed, its client reconnects and replays.
    bool stalled(std::chrono::steady_clock::duration limit) const {
        return !closed_ && writing_ && std::chrono::steady_clock::now() - progress_ > limit;
    }

    void on_close(std::function<void()> fn) override {
        if (finished_) {
            fn();
            return;
        }
        callbacks_.push_back(std::move(fn));
    }

private:
    void read_some() {
        // A pending read notices the client going away; anything it sends is ignored.
        socket_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
                self->close();
                return;
            }
            self->read_some();
        });
    }

    // Writes the queued frames (the first from offset_) in one gathered write.
    void write_next() {
        if (closed_ || head_ == queue_.size()) {
            writing_ = false;
            queue_.clear();
            head_ = 0;
            return;
        }
        if (!writing_) progress_ = std::chrono::steady_clock::now();  // frames start waiting
        writing_ = true;
        std::size_t end = std::min(queue_.size(), head_ + kMaxGather);
        std::vector<asio::const_buffer> bufs;
        bufs.reserve(end - head_);
        for (std::size_t i = head_; i < end; ++i) {
            const auto& f = *queue_[i];
            bufs.push_back(i == head_ ? asio::buffer(f.data() + offset_, f.size() - offset_) : asio::buffer(f));
        }
        asio::async_write(socket_, bufs, [self = shared_from_this(), end](beast::error_code ec, std::size_t) {
            if (ec || self->closed_) {
                self->close();
                return;
            }
            for (std::size_t i = self->head_; i < end; ++i) self->queue_[i].reset();
            self->progress_ = std::chrono::steady_clock::now();
            self->head_ = end;
            self->offset_ = 0;
            if (self->head_ >= kMaxGather && self->head_ * 2 >= self->queue_.size()) {
                // Compact so a stream that is never fully drained does not grow.
                self->queue_.erase(self->queue_.begin(), self->queue_.begin() + static_cast<std::ptrdiff_t>(self->head_));
                self->head_ = 0;
            }
            self->write_next();
        });
    }

    void finish() {
        if (finished_) return;
        finished_ = true;
        auto cbs = std::move(callbacks_);
        for (auto& cb : cbs) cb();
        if (on_end_) on_end_();
        on_end_ = nullptr;
    }

    static constexpr std::size_t kMaxGather = 64;

    tcp::socket socket_;
    std::size_t limit_;
    std::function<void()> on_end_;
    // Frames waiting to be written: [head_, size()). No allocation while the stream is idle.
    std::vector<std::shared_ptr<const std::string>> queue_;
    std::size_t head_ = 0;
    std::size_t offset_ = 0;  // bytes of queue_[head_] already written
    std::vector<std::function<void()>> callbacks_;
    char rbuf_[16];
    bool started_ = false;
    bool writing_ = false;
    bool closed_ = false;
    std::chrono::steady_clock::time_point progress_;  // the last write completed, or frames started waiting
    bool finished_ = false;
};

// ---------------------------------------------------------------------------------------------

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    class Session;
    // A worker is one thread with its own event loop; each request connection stays on the
    // worker it was given, which reads, handles and answers all of its requests.
    struct Worker {
        asio::io_context io{1};
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{io.get_executor()};
        std::thread thread;
        std::atomic<std::size_t> connections{0};  // Sessions alive on this worker
    };

    Impl(ServerOptions o, const Router& r)
        : opts(std::move(o)), router(r), acceptor(io), signals(io),
          pool_guard(std::in_place, pool.get_executor()) {
        const unsigned n = std::max(1u, opts.workers);
        for (unsigned i = 0; i < n; ++i) {
            auto& w = *workers.emplace_back(std::make_unique<Worker>());
            w.thread = std::thread([&w] { w.io.run(); });
        }
        for (unsigned i = 0; i < n; ++i) pool_threads.emplace_back([this] { pool.run(); });
    }

    // Lets the workers and then the pool finish what is queued, and joins them. The workers go
    // first: a request they still finish reading may hand its handler to the pool. An answer
    // that the pool posts back to a worker that has stopped meets a closed socket; it runs
    // here, so that nothing stays queued. A second call does nothing.
    void join_workers() {
        for (auto& w : workers) w->guard.reset();
        for (auto& w : workers)
            if (w->thread.joinable()) w->thread.join();
        pool_guard.reset();
        for (auto& t : pool_threads)
            if (t.joinable()) t.join();
        for (auto& w : workers) {
            w->io.restart();
            w->io.run();
        }
    }

    // The worker the next accepted connection goes to: the one with the fewest connections
    // when the accept starts (the first of them after the last choice, so that ties rotate).
    Worker& pick_worker() {
        std::size_t best = next_worker;
        for (std::size_t k = 1; k < workers.size(); ++k) {
            std::size_t i = (next_worker + k) % workers.size();
            if (workers[i]->connections < workers[best]->connections) best = i;
        }
        next_worker = (best + 1) % workers.size();
        return *workers[best];
    }

    ServerOptions opts;
    const Router& router;
    asio::io_context io{1};  // the I/O thread: acceptor, timers, event streams, shutdown
    tcp::acceptor acceptor;
    asio::signal_set signals;
    std::vector<std::unique_ptr<Worker>> workers;
    std::size_t next_worker = 0;  // the I/O thread's (accept)
    // The pool: work that may take long and must not hold up a worker's other connections.
    // Uploads (hashing, fsync) and post_work() (sweeps, the hub's reads of the log, replays).
    asio::io_context pool;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> pool_guard;
    std::vector<std::thread> pool_threads;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::vector<std::function<void()>> shutdown_hooks;
    struct Periodic {
        explicit Periodic(asio::io_context& io) : timer(io) {}
        asio::steady_timer timer;
        std::chrono::milliseconds period{1000};
        std::function<void()> fn;
    };
    std::list<std::shared_ptr<Periodic>> periodics;
    std::mutex sessions_mu;  // sessions and next_session_id: the I/O thread and the workers
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions;
    std::uint64_t next_session_id = 1;
    std::atomic<std::size_t> inflight{0};
    std::atomic<bool> shutting_down{false};  // written on the I/O thread, read by workers too
    std::atomic<std::size_t> streams{0};
    std::unordered_map<std::uint64_t, std::weak_ptr<SseStream>> open_streams;
    std::uint64_t next_stream_id = 1;
    std::optional<asio::steady_timer> grace_timer;

    void accept();
    // Request connections alive now (a connection that became an event stream is not one).
    std::size_t connections() const {
        std::size_t n = 0;
        for (const auto& w : workers) n += w->connections;
        return n;
    }
    void refuse(tcp::socket socket);
    // Closes the event streams whose socket has taken nothing for stream_stall_seconds.
    void drop_stalled_streams() {
        const auto limit = std::chrono::seconds(opts.stream_stall_seconds);
        std::vector<std::shared_ptr<SseStream>> stalled;
        for (auto& [id, w] : open_streams)
            if (auto s = w.lock(); s && s->stalled(limit)) stalled.push_back(std::move(s));
        for (auto& s : stalled) {
            log::info("event stream stalled: closed", {{"seconds", opts.stream_stall_seconds}});
            s->close();
        }
    }
    void arm(const std::shared_ptr<Periodic>& p) {
        if (shutting_down) return;
        p->timer.expires_after(p->period);
        p->timer.async_wait([self = shared_from_this(), p](beast::error_code ec) {
            if (ec || self->shutting_down) return;
            p->fn();
            self->arm(p);
        });
    }
    void begin_shutdown();
    void maybe_finish();
    std::vector<std::shared_ptr<Session>> live_sessions() {
        std::vector<std::shared_ptr<Session>> out;
        std::lock_guard lock(sessions_mu);
        for (auto& [id, w] : sessions)
            if (auto s = w.lock()) out.push_back(std::move(s));
        return out;
    }
    void forget(std::uint64_t session_id) {
        std::lock_guard lock(sessions_mu);
        sessions.erase(session_id);
    }
};

class Server::Impl::Session : public std::enable_shared_from_this<Session> {
public:
    Session(std::shared_ptr<Impl> srv, Worker& worker, tcp::socket socket, std::uint64_t id)
        : srv_(std::move(srv)), worker_(worker), stream_(std::move(socket)), id_(id) {
        ++worker_.connections;
        beast::error_code ec;
        auto ep = stream_.socket().remote_endpoint(ec);
        if (!ec) remote_ = ep.address().to_string();
    }
    ~Session() { --worker_.connections; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Everything a session does runs on its worker's event loop, so a request is read,
    // handled and answered by one thread, which sleeps only in that loop's wait for sockets.
    void start() {
        // Answers are written with a non-blocking write first (respond()).
        beast::error_code ec;
        stream_.socket().non_blocking(true, ec);
        read_header();
    }

    // Closes the connection if it is waiting for a new request (graceful shutdown).
    void close_if_idle() {
        asio::post(stream_.get_executor(), [self = shared_from_this()] {
            if (self->idle_) self->close();
        });
    }

    // Closes the connection whatever it is doing (the end of run()).
    void close_now() {
        asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
    }

    auto executor() { return stream_.get_executor(); }

private:
    void read_header() {
        if (srv_->shutting_down) return;
        idle_ = true;
        header_parser_.emplace();
        header_parser_->header_limit(static_cast<std::uint32_t>(srv_->opts.max_header_bytes));
        // Body limits are decided per route once the header is read.
        header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        head_started_ = false;
        stream_.expires_after(std::chrono::seconds(srv_->opts.keepalive_timeout_seconds));
        read_head();
    }

    // Reads raw bytes until the buffer holds a whole request head, which is checked for strict
    // framing (framing.hpp) before Beast's parser sees it: bytes that two parsers could frame
    // differently never reach a handler, and the connection is closed after the 400.
    void read_head() {
        auto data = buffer_.data();
        std::string_view received(static_cast<const char*>(data.data()), data.size());
        if (!head_started_ && !received.empty()) {
            // From the first byte of a head, the whole head has header_timeout_seconds: a
            // client that trickles it is closed, however steadily it trickles.
            head_started_ = true;
            stream_.expires_after(std::chrono::seconds(srv_->opts.header_timeout_seconds));
        }
        bool bad = false;
        if (auto end = find_head_end(received, bad)) return on_head(received.substr(0, end));
        if (bad) return reject_head(bad_request("malformed HTTP request: a NUL byte or a bare LF in the head"));
        // Too long: without the end of the request line, the line overflowed (414); else the
        // header fields did (431).
        auto first = std::min(received.find_first_not_of("\r\n"), received.size());
        auto line_end = std::min(received.find("\r\n", first), received.size());
        if (line_end - first > srv_->opts.max_request_line)
            return reject_head(Error(Errc::uri_too_long, "the request line is too long"));
        if (received.size() > srv_->opts.max_header_bytes)
            return reject_head(Error(Errc::headers_too_large, "the request headers are too large"));
        stream_.async_read_some(buffer_.prepare(kHeadChunk), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->buffer_.commit(n);
            if (ec) return self->on_header(ec);  // the client went away or timed out
            self->read_head();
        });
    }

    void reject_head(const Error& e) {
        begin_request();
        fail_and_close(e);
    }

    void on_head(std::string_view head) {
        if (auto st = check_request_head(head); !st.ok()) return reject_head(st.error());
        // Beast parses the checked head (the empty lines before it aside); the body, if any,
        // stays in buffer_ for the body parser.
        const auto start = head.find_first_not_of("\r\n");
        const auto length = head.size() - start;
        buffer_.consume(start);
        beast::error_code ec;
        buffer_.consume(header_parser_->put(asio::buffer(buffer_.data().data(), length), ec));
        if (!ec && !header_parser_->is_header_done()) ec = bhttp::error::need_more;
        on_header(ec);
    }

    void begin_request() {
        idle_ = false;
        started_ = std::chrono::steady_clock::now();
        req_ = HttpRequest{};
        req_.request_id = random_hex(8);
        req_.remote_addr = remote_;
    }

    void on_header(beast::error_code ec) {
        begin_request();
        if (ec == bhttp::error::header_limit) {
            fail_and_close(Error(Errc::headers_too_large, "the request headers are too large"));
            return;
        }
        if (ec) {
            if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
                close();
                return;
            }
            // Malformed request syntax: answer 400 once, then close.
            fail_and_close(bad_request("malformed HTTP request: " + ec.message()));
            return;
        }
        auto& h = header_parser_->get();
        keep_alive_ = h.keep_alive();
        if (auto st = read_request_head(h, {srv_->opts.max_header_fields, srv_->opts.max_request_line}, req_); !st.ok()) {
            fail_and_close(st.error());
            return;
        }
        match_ = srv_->router.match(req_.method, req_.path);
        bool has_body = header_parser_->content_length().value_or(0) > 0 || header_parser_->chunked();
        if (!match_.route) {
            // Unread bodies make the connection unusable: answer, then close.
            if (has_body) keep_alive_ = false;
            respond(Router::reject(match_));
            return;
        }
        std::uint64_t limit = match_.route->body == BodyKind::upload
                                  ? static_cast<std::uint64_t>(srv_->opts.max_upload_bytes)
                              : match_.route->body == BodyKind::json
                                  ? static_cast<std::uint64_t>(srv_->opts.max_json_bytes)
                                  : kMaxIgnoredBody;
        if (auto len = header_parser_->content_length(); len && *len > limit) {
            keep_alive_ = false;
            respond(HttpResponse::error(Error(Errc::payload_too_large,
                                              "the request body exceeds the limit of " +
                                                  std::to_string(limit) + " bytes")));
            return;
        }
        if (!has_body) {
            dispatch();
            return;
        }
        if (beast::iequals(req_.header("expect"), "100-continue")) {
            auto msg = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
            asio::async_write(stream_, asio::buffer(*msg),
                              [self = shared_from_this(), msg, limit](beast::error_code ec, std::size_t) {
                                  if (ec) return self->close();
                                  self->read_body(limit);
                              });
            return;
        }
        read_body(limit);
    }

    void read_body(std::uint64_t limit) {
        if (match_.route->body == BodyKind::upload) {
            std::error_code fec;
            std::filesystem::create_directories(srv_->opts.upload_dir, fec);
            upload_path_ = (std::filesystem::path(srv_->opts.upload_dir) / ("upload-" + random_hex(12) + ".part")).string();
            file_parser_.emplace(std::move(*header_parser_));
            file_parser_->body_limit(limit);
            beast::error_code bec;
            file_parser_->get().body().open(upload_path_.c_str(), beast::file_mode::write, bec);
            if (bec) {
                log::error("cannot open upload file", {{"path", upload_path_}, {"what", bec.message()}});
                keep_alive_ = false;
                // A read-only disk is unavailable while it lasts (GET /ready says so too); a full
                // one is 507.
                respond(HttpResponse::error(disk_full(bec.value()) ? file_write_error(bec.value(), "cannot store the upload")
                                                 : Error(Errc::unavailable, "the file store cannot take the upload now: " +
                                                                                bec.message())));
                return;
            }
        } else {
            string_parser_.emplace(std::move(*header_parser_));
            string_parser_->body_limit(limit);
        }
        read_body_part();
    }

    // Reads the body a part at a time, each part within body_idle_timeout_seconds: a slow but
    // steady upload may take as long as it needs, a body that stops arriving is dropped.
    void read_body_part() {
        stream_.expires_after(std::chrono::seconds(srv_->opts.body_idle_timeout_seconds));
        auto next = [self = shared_from_this()](beast::error_code ec, std::size_t) {
            bool done = !ec && (self->file_parser_ ? self->file_parser_->is_done() : self->string_parser_->is_done());
            if (!ec && !done) return self->read_body_part();
            if (self->file_parser_) self->file_parser_->get().body().close();
            self->on_body(ec);
        };
        if (file_parser_)
            bhttp::async_read_some(stream_, buffer_, *file_parser_, std::move(next));
        else
            bhttp::async_read_some(stream_, buffer_, *string_parser_, std::move(next));
    }

    void on_body(beast::error_code ec) {
        if (ec == bhttp::error::body_limit) {
            remove_upload();
            keep_alive_ = false;
            respond(HttpResponse::error(Error(Errc::payload_too_large, "the request body exceeds the size limit")));
            return;
        }
        if (ec) {
            // The client vanished or sent a broken body: nothing was handled.
            remove_upload();
            if (ec == bhttp::error::partial_message || ec == asio::error::eof ||
                ec == beast::error::timeout || ec == asio::error::connection_reset) {
                close();
                return;
            }
            keep_alive_ = false;
            if (file_parser_ && (ec.category() == boost::system::system_category() ||
                                 ec.category() == boost::system::generic_category())) {
                // Writing the upload to the file store failed (full: 507; else 500): nothing is kept.
                respond(HttpResponse::error(file_write_error(ec.value(), "cannot store the upload")));
                return;
            }
            respond(HttpResponse::error(bad_request("malformed request body: " + ec.message())));
            return;
        }
        if (string_parser_) {
            req_.body = std::move(string_parser_->get().body());
            req_.body_size = static_cast<std::int64_t>(req_.body.size());
            string_parser_.reset();
        } else if (file_parser_) {
            req_.body_file = upload_path_;
            std::error_code fec;
            req_.body_size = static_cast<std::int64_t>(std::filesystem::file_size(upload_path_, fec));
            file_parser_.reset();
        }
        dispatch();
    }

    // The handler runs here, on this connection's worker (it may block on SQL), so the
    // worker's other connections wait for it. A slow route's handler (Argon2id; an upload's
    // hashing and fsync) runs on the pool instead, and its answer comes back here.
    void dispatch() {
        ++srv_->inflight;
        counted_ = true;
        stream_.expires_never();
        if (!match_.route->is_slow()) {
            std::vector<std::function<void()>> after;
            respond(handle(after));
            run_all(after);
            return;
        }
        // The pool's task owns an upload's temporary file from here (close() no longer
        // removes it).
        asio::post(srv_->pool, [self = shared_from_this(), body_file = std::exchange(upload_path_, {})] {
            std::vector<std::function<void()>> after;
            HttpResponse resp = self->handle(after);
            std::error_code ec;
            std::filesystem::remove(body_file, ec);  // unless the handler moved it into the store
            asio::post(self->stream_.get_executor(), [self, after = std::move(after), resp = std::move(resp)]() mutable {
                self->respond(std::move(resp));
                run_all(after);
            });
        });
    }

    HttpResponse handle(std::vector<std::function<void()>>& after) {
        t_after_response = &after;
        HttpResponse resp = srv_->router.handle(match_, req_);
        t_after_response = nullptr;
        return resp;
    }

    void respond(HttpResponse resp) {
        remove_upload();
        status_ = resp.status;
        if (srv_->shutting_down) keep_alive_ = false;
        const bool head = req_.method == "HEAD";
        if (resp.on_stream && head) {
            // The header an event stream would start with, and no stream.
            resp.on_stream = nullptr;
            resp.content_type = "text/event-stream";
            resp.with_header("Cache-Control", "no-cache");
            keep_alive_ = false;
        }
        if (resp.on_stream && !srv_->shutting_down) {
            start_stream(std::move(resp));
            return;
        }
        if (resp.on_stream) {
            resp = HttpResponse::error(Error(Errc::unavailable, "the server is shutting down"));
            status_ = resp.status;
        }
        if (!resp.file_path.empty()) {
            auto msg = std::make_shared<bhttp::response<bhttp::file_body>>();
            beast::error_code ec;
            msg->body().open(resp.file_path.c_str(), beast::file_mode::scan, ec);
            if (ec) {
                log::error("cannot open download", {{"path", resp.file_path}, {"what", ec.message()}});
                resp = HttpResponse::error(internal_error("the stored file cannot be read"));
                resp.file_path.clear();
                respond(std::move(resp));
                return;
            }
            fill(*msg, resp);
            msg->prepare_payload();
            if (head) return write_header_only(msg);
            bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, std::size_t n) {
                self->after_write(ec, n);
            });
            return;
        }
        auto msg = std::make_shared<bhttp::response<bhttp::string_body>>();
        fill(*msg, resp);
        msg->body() = std::move(resp.body);
        msg->prepare_payload();
        if (head) return write_header_only(msg);
        // Write at once what the socket takes (all of it, unless its buffer is full); only
        // the rest waits for the socket.
        auto sr = std::make_shared<bhttp::serializer<false, bhttp::string_body>>(*msg);
        beast::error_code ec;
        std::size_t n = bhttp::write(stream_.socket(), *sr, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            bhttp::async_write(stream_, *sr, [self = shared_from_this(), msg, sr, n](beast::error_code ec, std::size_t more) {
                self->after_write(ec, n + more);
            });
            return;
        }
        after_write(ec, n);
    }

    // HEAD: the header GET would send (its Content-Length included), without the body.
    template <class Body>
    void write_header_only(std::shared_ptr<bhttp::response<Body>> msg) {
        auto sr = std::make_shared<bhttp::response_serializer<Body>>(*msg);
        bhttp::async_write_header(stream_, *sr, [self = shared_from_this(), msg, sr](beast::error_code ec, std::size_t n) {
            self->after_write(ec, n);
        });
    }

    template <class Msg>
    void fill(Msg& msg, const HttpResponse& resp) {
        msg.version(11);
        msg.result(static_cast<unsigned>(resp.status));
        msg.set(bhttp::field::server, "silod/" SILO_VERSION);
        if (!resp.content_type.empty()) msg.set(bhttp::field::content_type, resp.content_type);
        msg.set("X-Request-Id", req_.request_id);
        for (const auto& [name, value] : kSecurityHeaders) msg.set(name, value);
        for (const auto& [k, v] : resp.headers) msg.insert(k, v);
        msg.keep_alive(keep_alive_);
    }

    // Event streams live on the I/O thread: the socket moves there, the stream is attached,
    // and only then is the header written, so a client holding the 200 is already counted and
    // gets every event committed after it.
    void start_stream(HttpResponse resp) {
        std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                           "Connection: keep-alive\r\nX-Accel-Buffering: no\r\nX-Request-Id: " +
                           req_.request_id + "\r\n" + security_header_lines();
        for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
        head += "\r\n";
        log_request(200, 0);
        finish_request();
        srv_->forget(id_);
        tcp::socket socket = stream_.release_socket();
        beast::error_code ec;
        auto protocol = socket.local_endpoint(ec).protocol();
        if (ec) return;  // the client is gone; the socket closes here
        auto fd = socket.release(ec);
        if (ec) return;
        asio::post(srv_->io, [srv = srv_, protocol, fd, head = std::move(head), on_stream = std::move(resp.on_stream)]() mutable {
            tcp::socket moved(srv->io);
            beast::error_code aec;
            moved.assign(protocol, fd, aec);
            if (aec) {
                ::close(fd);
                return;
            }
            if (srv->shutting_down) return;  // closed by moved's destructor
            auto sid = srv->next_stream_id++;
            auto sink = std::make_shared<SseStream>(std::move(moved), srv->opts.stream_queue_limit,
                                                    [srv, sid] {
                                                        srv->open_streams.erase(sid);
                                                        srv->streams = srv->open_streams.size();
                                                    },
                                                    std::move(head));
            srv->open_streams[sid] = sink;
            srv->streams = srv->open_streams.size();
            on_stream(sink);
            sink->start();
        });
    }

    void after_write(beast::error_code ec, std::size_t bytes) {
        log_request(ec ? 499 : status_, bytes);
        finish_request();
        if (ec) return close();
        if (!keep_alive_) return linger_close();
        read_header();
    }

    void finish_request() {
        if (!counted_) return;
        counted_ = false;
        if (--srv_->inflight == 0 && srv_->shutting_down)
            asio::post(srv_->io, [srv = srv_] { srv->maybe_finish(); });
    }

    void log_request(int status, std::size_t bytes) {
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
        nlohmann::json f = {{"request_id", req_.request_id}, {"method", req_.method},
                            {"path", req_.path},             {"status", status},
                            {"ms", std::round(ms * 100) / 100}, {"bytes", bytes},
                            {"remote", remote_}};
        if (!req_.principal.username.empty()) f["user"] = req_.principal.username;
        log::info("request", f);
    }

    // After answering a request whose body was not read, stop sending and discard what the
    // client still sends for a moment, so it reads the answer instead of a connection reset.
    void linger_close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(std::chrono::seconds(2));
        drain_buf_ = std::make_unique<char[]>(kDrainChunk);
        drain(0);
    }

    void drain(std::size_t drained) {
        stream_.async_read_some(asio::buffer(drain_buf_.get(), kDrainChunk),
                                [self = shared_from_this(), drained](beast::error_code ec, std::size_t n) {
                                    if (ec || drained + n > kMaxDrain) return self->close();
                                    self->drain(drained + n);
                                });
    }

    void fail_and_close(const Error& e) {
        keep_alive_ = false;
        respond(HttpResponse::error(e));
    }

    void close() {
        remove_upload();
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
        srv_->forget(id_);
    }

    void remove_upload() {
        if (upload_path_.empty()) return;
        if (file_parser_) file_parser_->get().body().close();
        std::error_code ec;
        std::filesystem::remove(upload_path_, ec);
        upload_path_.clear();
    }

    std::shared_ptr<Impl> srv_;
    Worker& worker_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
    std::optional<bhttp::request_parser<bhttp::string_body>> string_parser_;
    std::optional<bhttp::request_parser<bhttp::file_body>> file_parser_;
    HttpRequest req_;
    RouteMatch match_;
    std::string upload_path_;
    std::unique_ptr<char[]> drain_buf_;
    std::string remote_;
    std::uint64_t id_;
    int status_ = 0;
    bool keep_alive_ = true;
    bool idle_ = false;
    bool head_started_ = false;  // a byte of the next head has arrived (its deadline runs)
    bool counted_ = false;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

void Server::Impl::accept() {
    Worker& worker = pick_worker();
    acceptor.async_accept(worker.io, [self = shared_from_this(), &worker](beast::error_code ec, tcp::socket socket) {
        if (ec) {
            if (ec == asio::error::operation_aborted || self->shutting_down) return;
            // EMFILE and friends: log, back off briefly, keep serving.
            log::warn("accept failed", {{"what", ec.message()}});
            auto t = std::make_shared<asio::steady_timer>(self->io, std::chrono::milliseconds(50));
            t->async_wait([self, t](beast::error_code) { self->accept(); });
            return;
        }
        if (self->shutting_down) return;
        if (self->connections() >= self->opts.max_connections) {
            // Past server.max_connections: answer 503 and close (event streams do not count).
            self->refuse(std::move(socket));
            self->accept();
            return;
        }
        std::shared_ptr<Session> s;
        {
            std::lock_guard lock(self->sessions_mu);
            auto id = self->next_session_id++;
            s = std::make_shared<Session>(self, worker, std::move(socket), id);
            self->sessions[id] = s;
        }
        asio::post(s->executor(), [s] { s->start(); });
        self->accept();
    });
}

namespace {

// Past server.max_connections: writes a 503 envelope, stops sending, then reads (and drops)
// what the client sent for up to 2 s, so that it reads the answer rather than a reset.
class Refusal : public std::enable_shared_from_this<Refusal> {
public:
    explicit Refusal(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}
    void start() {
        static const std::string body =
            R"({"error":"unavailable","message":"too many connections (server.max_connections); try again"})";
        static const std::string msg = "HTTP/1.1 503 Service Unavailable\r\nServer: silod/" SILO_VERSION
                                       "\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
                                       security_header_lines() + "Connection: close\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body;
        asio::async_write(socket_, asio::buffer(msg), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return;
            self->socket_.shutdown(tcp::socket::shutdown_send, ec);
            self->timer_.expires_after(std::chrono::seconds(2));
            self->timer_.async_wait([self](beast::error_code) {
                beast::error_code ignored;
                self->socket_.close(ignored);
            });
            self->drain();
        });
    }

private:
    void drain() {
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
                self->timer_.cancel();  // the client closed (or the timer did)
                return;
            }
            self->drain();
        });
    }
    tcp::socket socket_;
    asio::steady_timer timer_;
    char buf_[4096];
};

}  // namespace

void Server::Impl::refuse(tcp::socket socket) { std::make_shared<Refusal>(std::move(socket))->start(); }

void Server::Impl::begin_shutdown() {
    if (shutting_down) return;
    shutting_down = true;
    log::info("shutting down", {{"inflight", inflight.load()}, {"streams", open_streams.size()}});
    beast::error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    for (auto& p : periodics) p->timer.cancel();
    for (auto& hook : shutdown_hooks) hook();
    auto streams_copy = open_streams;
    for (auto& [id, w] : streams_copy)
        if (auto s = w.lock()) s->close();
    for (auto& s : live_sessions()) s->close_if_idle();
    grace_timer.emplace(io, std::chrono::seconds(opts.shutdown_grace_seconds));
    grace_timer->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;
        log::warn("shutdown grace elapsed; stopping with requests in flight", {{"inflight", self->inflight.load()}});
        self->io.stop();
    });
    maybe_finish();
}

void Server::Impl::maybe_finish() {
    if (!shutting_down || inflight != 0) return;
    if (grace_timer) grace_timer->cancel();
    guard.reset();
    io.stop();
}

Server::Server(ServerOptions options, const Router& router)
    : impl_(std::make_shared<Impl>(std::move(options), router)) {}

Server::~Server() {
    impl_->join_workers();
}

Result<std::uint16_t> Server::bind() {
    beast::error_code ec;
    auto addr = asio::ip::make_address(impl_->opts.host, ec);
    if (ec) {
        // A host name (localhost, a name of this machine): its first IPv4 address, else its
        // first address.
        tcp::resolver resolver(impl_->io);
        auto found = resolver.resolve(impl_->opts.host, "", asio::ip::resolver_base::passive, ec);
        if (ec || found.empty())
            return bad_request("server.host: cannot resolve '" + impl_->opts.host + "'" +
                               (ec ? ": " + ec.message() : std::string()));
        addr = found.begin()->endpoint().address();
        for (const auto& entry : found)
            if (entry.endpoint().address().is_v4()) {
                addr = entry.endpoint().address();
                break;
            }
    }
    tcp::endpoint ep(addr, static_cast<unsigned short>(impl_->opts.port));
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (ec)
        return Error(Errc::unavailable, "server.host/port: cannot listen on " + impl_->opts.host + ":" +
                                            std::to_string(impl_->opts.port) + ": " + ec.message());
    return a.local_endpoint().port();
}

Status Server::listen() {
    beast::error_code ec;
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error(Errc::unavailable, "cannot listen on " + impl_->opts.host + ": " + ec.message());
    // From here SIGINT/SIGTERM start a graceful shutdown (run() handles them); before, they
    // end the process as usual (a migration, an operator command).
    impl_->signals.add(SIGINT, ec);
    impl_->signals.add(SIGTERM, ec);
    return {};
}

void Server::run() {
    auto impl = impl_;
    impl->guard.emplace(impl->io.get_executor());
    impl->signals.async_wait([impl](beast::error_code ec, int sig) {
        if (ec) return;
        log::info("signal received", {{"signal", sig}});
        impl->begin_shutdown();
    });
    impl->accept();
    // Event streams whose socket takes nothing for stream_stall_seconds are closed.
    auto stall = std::make_shared<Impl::Periodic>(impl->io);
    stall->period = std::chrono::milliseconds(std::max(250, impl->opts.stream_stall_seconds * 250));
    stall->fn = [impl] { impl->drop_stalled_streams(); };
    impl->periodics.push_back(stall);
    impl->arm(stall);
    impl->io.run();
    // Close what is left (connections lingering after an answer, requests past the grace), so
    // the workers run out of work; then wait for them.
    for (auto& s : impl->live_sessions()) s->close_now();
    impl->open_streams.clear();
    impl->join_workers();
}

void Server::request_shutdown() {
    auto impl = impl_;
    asio::post(impl->io, [impl] { impl->begin_shutdown(); });
}

void Server::on_shutdown(std::function<void()> fn) { impl_->shutdown_hooks.push_back(std::move(fn)); }

void Server::post_io(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

void Server::post_work(std::function<void()> fn) { asio::post(impl_->pool, std::move(fn)); }

void Server::every(double seconds, std::function<void()> fn) {
    auto impl = impl_;
    auto p = std::make_shared<Impl::Periodic>(impl->io);
    p->period = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    p->fn = std::move(fn);
    asio::post(impl->io, [impl, p] {
        impl->periodics.push_back(p);
        impl->arm(p);
    });
}

std::size_t Server::open_streams() const { return impl_->streams.load(); }

}  // namespace silo::http
