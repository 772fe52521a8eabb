#pragma once
// The HTTP server side: a listener accepting connections and a coroutine per connection
// (Beast's advanced server, with C++20 coroutines).
//
// Threading: each connection lives on its own strand (made at accept) of the listener's
// io_context, or of one context of an io_context_pool (one thread each: the connection's
// handlers then never change threads), so a handler never races with itself. Handlers are
// coroutines: they must not block; waiting is co_await.
//
// A handler receives a request_context and writes its response itself (send() for a plain
// response, chunked_response for a stream). After it returns, the connection reads the next
// request if ctx.keep_alive is still true.
//
// Hostile clients are bounded by server_limits: a cap on open connections (in all and per
// address; past it a canned reply and close, nothing read), one deadline for each request's head
// and body, a no-progress timeout on every write, and an accept loop that pauses instead of
// spinning when the process runs out of descriptors.

#include "common/asio_fwd.hpp"
#include "common/result.hpp"
#include "http/connection_limiter.hpp"
#include "http/io_context_pool.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <memory>
#include <string>
#include <string_view>

namespace llmp::http_server {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct request_context {
    request& req;
    beast::tcp_stream& stream;
    std::string remote_addr;
    bool keep_alive = true;
    /// Status of the response once its head is written (send() or chunked_response::start);
    /// 0 while none was. For request metrics.
    unsigned status = 0;
    /// A response write that makes no progress for this long fails with beast::error::timeout
    /// and the connection is closed (a client that stopped reading). From server_limits.
    std::chrono::milliseconds write_timeout{10000};
    /// Who sent the request, as an authenticating route wrapper found it (the API's key: api/auth.hpp),
    /// for the handler behind it; opaque here. Null when no wrapper set it.
    std::shared_ptr<const void> principal;
};

using handler = std::function<net::awaitable<void>(request_context&)>;

struct server_limits {
    /// Largest accepted request body (413 beyond it).
    std::uint64_t body_limit = 1 << 20;
    /// Larger limits for these paths (the query string aside), e.g. the routes that take images:
    /// the head is read first, then the body under its route's limit.
    std::vector<std::pair<std::string, std::uint64_t>> route_body_limits;
    /// How long an idle keep-alive connection may wait for the first byte of its next request.
    std::chrono::milliseconds idle_timeout{60000};
    /// How long one request's head and body may take to arrive, counted from the connect (first
    /// request) or from the request's first byte (later ones). Bounds a connection that sends
    /// nothing, or a header a byte at a time (slowloris), whatever the idle timeout.
    std::chrono::milliseconds read_timeout{20000};
    /// How long a response write may make no progress (see request_context::write_timeout).
    std::chrono::milliseconds write_timeout{10000};
    /// Connections open at once; a connection past it gets a canned 503 and is closed. 0 = no cap.
    std::int64_t max_connections = 10000;
    /// Connections open at once from one client address; past it a canned 429. 0 = no cap.
    std::int64_t max_connections_per_address = 0;
    /// How long the accept loop pauses when accept fails for lack of descriptors or memory
    /// (EMFILE, ENFILE, ENOBUFS, ENOMEM): retrying at once would spin on the pending connection.
    std::chrono::milliseconds accept_backoff{100};
};

/// What a listener counted; read from any thread (metrics).
struct listener_stats {
    std::int64_t open_connections = 0;
    /// Connections closed at once because a cap (total or per address) was reached.
    std::uint64_t refused_connections = 0;
    /// Accept failures for lack of descriptors or memory, each followed by a pause.
    std::uint64_t accept_backoffs = 0;
};

/// Builds the answer to a request that could not be read (413 body too large, 400 malformed),
/// from the request target when its request line arrived (empty otherwise), so that each API
/// flavour can answer in its own error shape. The default is error_response().
using read_error_fn = std::function<response(std::string_view target, const error& e)>;

/// Writes a complete response; sets Content-Length and keep-alive from ctx. To a HEAD request
/// only the head goes out (with the Content-Length of the body it would have had). A write that
/// makes no progress for ctx.write_timeout closes the connection (ctx.keep_alive = false).
net::awaitable<void> send(request_context& ctx, response res);

/// What every session of a listener shares (its handler, limits and read-error replies), made
/// once: a session holds a pointer to it, not copies (listener.cpp).
struct session_settings;

class listener : public std::enable_shared_from_this<listener> {
public:
    /// Binds at once (throws boost::system::system_error on failure: a start-up error).
    /// Accepts on `ioc` and serves every connection on a strand of it.
    listener(net::io_context& ioc, const net::ip::tcp::endpoint& ep, handler h, server_limits limits,
             read_error_fn on_read_error = {});
    /// Accepts on `pool.main()` and serves each connection, for its whole life, on the pool's
    /// next context (round robin): see io_context_pool.hpp. The pool must outlive the listener.
    listener(io_context_pool& pool, const net::ip::tcp::endpoint& ep, handler h, server_limits limits,
             read_error_fn on_read_error = {});

    void start();
    /// Stops accepting; open connections carry on.
    void stop();
    std::uint16_t port() const { return port_; }
    listener_stats stats() const;

private:
    net::awaitable<void> accept_loop();
    /// Answers a connection over a cap with a canned response and closes it, without reading.
    void refuse(net::ip::tcp::socket& socket, connection_limiter::verdict why);

    listener(net::io_context& acceptor_context, std::function<net::io_context&()> session_context,
             const net::ip::tcp::endpoint& ep, handler h, server_limits limits, read_error_fn on_read_error);

    /// The context a new connection is served on.
    std::function<net::io_context&()> session_context_;
    net::ip::tcp::acceptor acceptor_;
    std::shared_ptr<const session_settings> settings_;
    std::uint16_t port_ = 0;
    // Shared with the sessions, which may outlive the listener.
    std::shared_ptr<connection_limiter> limiter_;
    std::atomic<std::uint64_t> refused_{0};
    std::atomic<std::uint64_t> accept_backoffs_{0};
    std::string overloaded_reply_;   ///< the canned 503 (serialized once)
    std::string per_address_reply_;  ///< the canned 429
};

}  // namespace llmp::http_server
