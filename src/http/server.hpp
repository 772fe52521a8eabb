#pragma once
// The HTTP server side: a listener accepting connections and a coroutine per connection
// (Beast's advanced server, with C++20 coroutines).
//
// Threading: each connection lives on its own strand of the io_context (made at accept), so a
// handler never races with itself and may run on any of the io_context's threads. Handlers are
// coroutines: they must not block; waiting is co_await.
//
// A handler receives a request_context and writes its response itself (send() for a plain
// response, chunked_response for a stream). After it returns, the connection reads the next
// request if ctx.keep_alive is still true.

#include "common/asio_fwd.hpp"
#include "common/result.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
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
};

using handler = std::function<net::awaitable<void>(request_context&)>;

struct server_limits {
    /// Largest accepted request body (413 beyond it).
    std::uint64_t body_limit = 1 << 20;
    /// How long an idle keep-alive connection may wait for its next request.
    std::chrono::seconds idle_timeout{60};
    /// How long one request's headers and body may take to arrive.
    std::chrono::seconds read_timeout{30};
};

/// Builds the answer to a request that could not be read (413 body too large, 400 malformed),
/// from the request target when its request line arrived (empty otherwise), so that each API
/// flavour can answer in its own error shape. The default is error_response().
using read_error_fn = std::function<response(std::string_view target, const error& e)>;

/// Writes a complete response; sets Content-Length and keep-alive from ctx.
net::awaitable<void> send(request_context& ctx, response res);

class listener : public std::enable_shared_from_this<listener> {
public:
    /// Binds at once (throws boost::system::system_error on failure: a start-up error).
    listener(net::io_context& ioc, const net::ip::tcp::endpoint& ep, handler h, server_limits limits,
             read_error_fn on_read_error = {});

    void start();
    /// Stops accepting; open connections carry on.
    void stop();
    std::uint16_t port() const { return port_; }
    /// Connections open now.
    std::int64_t open_connections() const { return open_->load(); }

private:
    net::awaitable<void> accept_loop();

    net::io_context& ioc_;
    net::ip::tcp::acceptor acceptor_;
    handler handler_;
    server_limits limits_;
    read_error_fn on_read_error_;
    std::uint16_t port_ = 0;
    std::shared_ptr<std::atomic<std::int64_t>> open_ = std::make_shared<std::atomic<std::int64_t>>(0);
};

}  // namespace llmp::http_server
