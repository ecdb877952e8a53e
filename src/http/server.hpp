// The HTTP/1.1 server. Worker threads read, handle and answer requests: each worker runs its
// own event loop, a new connection goes to the worker with the fewest connections and stays
// there, and a handler (which may block on SQL or hashing) runs on that worker, with no
// hand-over between threads. Slow routes (Pace::slow, uploads) are handled on a pool of as many
// threads, which also runs post_work(), so that password hashing or hashing a large file does
// not hold up the worker's other connections. One I/O thread runs the acceptor, the timers
// and the event streams. Beast stays behind this pimpl.
#pragma once

#include "http/router.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace silo::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::int64_t max_json_bytes = 1048576;
    std::int64_t max_upload_bytes = 1073741824;
    std::string upload_dir;          // temporary files of streamed uploads
    unsigned workers = 8;            // request threads, each with its own event loop
    int keepalive_timeout_seconds = 60;  // a connection waiting for its next request
    int header_timeout_seconds = 20;     // the whole head, from its first byte (a trickle is closed)
    int body_idle_timeout_seconds = 60;  // a request body that stops arriving
    int shutdown_grace_seconds = 30;     // in-flight requests get this long after SIGTERM
    std::size_t max_request_line = 8192;   // longer targets answer 414
    std::size_t max_header_bytes = 16384;  // larger headers answer 431
    std::size_t max_header_fields = 100;   // more fields answer 431
    std::size_t max_connections = 4096;    // request connections (event streams aside); past it 503
    std::size_t stream_queue_limit = 1024; // frames queued per event stream before it is closed
    int stream_stall_seconds = 60;         // an event stream whose socket takes nothing this long is closed
};

// Runs fn on this thread once the answer of the request it is handling has been handed to
// the socket: work that the client need not wait for (waking the event hub). Called outside a
// request handler, it runs fn at once.
void after_response(std::function<void()> fn);

class Server {
public:
    Server(ServerOptions options, const Router& router);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the listening address (a host name resolves to its first IPv4 address, else its
    // first) and returns the bound port (useful with port 0). Nothing is accepted yet, and a
    // client connecting now is refused: start-up checks the address before it touches the
    // database, and a load balancer sees no open port while it migrates.
    Result<std::uint16_t> bind();
    // Starts listening on the bound address and takes over SIGINT/SIGTERM (a graceful stop in
    // run()). Call it once everything run() needs is ready.
    Status listen();

    // Runs the I/O loop on the calling thread until a graceful shutdown completes
    // (SIGINT/SIGTERM or request_shutdown()): the listener closes, open event streams close at
    // once, in-flight requests finish, then run() returns.
    void run();

    // Starts a graceful shutdown. Thread-safe.
    void request_shutdown();

    // Registers fn to run on the I/O thread when shutdown starts (close streams, stop timers).
    void on_shutdown(std::function<void()> fn);

    // Runs fn on the I/O thread. Thread-safe.
    void post_io(std::function<void()> fn);

    // Runs fn every `seconds` on the I/O thread until shutdown (heartbeat, sweepers).
    void every(double seconds, std::function<void()> fn);

    // Runs fn on the pool (not on a request worker). Thread-safe.
    void post_work(std::function<void()> fn);

    // Number of currently open event streams.
    std::size_t open_streams() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace silo::http
