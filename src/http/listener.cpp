#include "http/server.hpp"

#include "http/error_response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace llmp::http_server {
namespace {

using tcp = net::ip::tcp;

response read_error_response(const http::request_parser<http::string_body>& parser, const beast::error_code& ec,
                             const server_limits& limits, const read_error_fn& on_read_error) {
    error e = ec == http::error::body_limit
                  ? error{"payload_too_large",
                          "request body exceeds the limit of " + std::to_string(limits.body_limit) + " bytes"}
                  : error{"bad_request", "malformed HTTP request: " + ec.message()};
    if (on_read_error) {
        // The target is there once the request line was read, even when a header (such as a
        // Content-Length over the limit) stopped the parse; empty before.
        return on_read_error(parser.get().target(), e);
    }
    return error_response(e);
}

net::awaitable<void> run_session(tcp::socket socket, handler h, server_limits limits,
                                 std::shared_ptr<std::atomic<std::int64_t>> open, read_error_fn on_read_error) {
    struct count_guard {
        std::shared_ptr<std::atomic<std::int64_t>> n;
        explicit count_guard(std::shared_ptr<std::atomic<std::int64_t>> c) : n{std::move(c)} { ++*n; }
        ~count_guard() { --*n; }
    } guard{std::move(open)};

    beast::error_code ec;
    std::string remote;
    if (auto ep = socket.remote_endpoint(ec); !ec) {
        remote = ep.address().to_string();
    }
    socket.set_option(tcp::no_delay{true}, ec);
    beast::tcp_stream stream{std::move(socket)};
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(limits.body_limit);
        stream.expires_after(first ? limits.read_timeout : limits.idle_timeout);
        first = false;
        co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
        if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
            ec == beast::error::timeout || ec == net::error::connection_reset || ec == net::error::eof) {
            break;
        }
        if (ec) {
            // A malformed or oversized request: answer it, then close (the framing is lost).
            request dummy;
            dummy.version(11);
            request_context ctx{dummy, stream, remote, false, 0};
            // Built in a named local: g++ 12 miscompiles a ?: of temporaries inside co_await.
            response res = read_error_response(parser, ec, limits, on_read_error);
            co_await send(ctx, std::move(res));
            break;
        }
        stream.expires_never();
        request req = parser.release();
        request_context ctx{req, stream, remote, req.keep_alive(), 0};
        co_await h(ctx);
        if (!ctx.keep_alive) {
            break;
        }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

net::awaitable<void> send(request_context& ctx, response res) {
    res.version(ctx.req.version() == 0 ? 11 : ctx.req.version());
    res.keep_alive(ctx.keep_alive);
    ctx.status = res.result_int();
    res.prepare_payload();
    beast::error_code ec;
    co_await http::async_write(ctx.stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
        ctx.keep_alive = false;
    }
}

listener::listener(net::io_context& ioc, const tcp::endpoint& ep, handler h, server_limits limits,
                   read_error_fn on_read_error)
    : ioc_{ioc},
      acceptor_{ioc},
      handler_{std::move(h)},
      limits_{limits},
      on_read_error_{std::move(on_read_error)} {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
}

void listener::start() {
    net::co_spawn(acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); },
                  net::detached);
}

void listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        beast::error_code ec;
        self->acceptor_.close(ec);
    });
}

net::awaitable<void> listener::accept_loop() {
    for (;;) {
        beast::error_code ec;
        auto strand = net::make_strand(ioc_);
        tcp::socket socket{strand};
        co_await acceptor_.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            if (!acceptor_.is_open()) {
                co_return;
            }
            continue;  // e.g. EMFILE: keep serving the connections we have
        }
        net::co_spawn(strand, run_session(std::move(socket), handler_, limits_, open_, on_read_error_),
                      net::detached);
    }
}

}  // namespace llmp::http_server
