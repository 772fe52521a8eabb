#include "http/server.hpp"

#include "common/errc.hpp"
#include "common/logging.hpp"
#include "http/accept_backoff.hpp"
#include "http/error_response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <optional>
#include <sstream>

namespace llmp::http_server {

struct session_settings {
    handler on_request;
    server_limits limits;
    read_error_fn on_read_error;
};

namespace {

using tcp = net::ip::tcp;

/// The body limit of the route `target` names (server_limits::route_body_limits), else the default.
std::uint64_t body_limit_for(const server_limits& limits, std::string_view target) {
    auto path = target.substr(0, target.find('?'));
    for (const auto& [route, limit] : limits.route_body_limits) {
        if (path == route) {
            return limit;
        }
    }
    return limits.body_limit;
}

std::uint64_t largest_body_limit(const server_limits& limits) {
    std::uint64_t out = limits.body_limit;
    for (const auto& [route, limit] : limits.route_body_limits) {
        out = std::max(out, limit);
    }
    return out;
}

response read_error_response(const http::request_parser<http::string_body>& parser, const beast::error_code& ec,
                             const server_limits& limits, const read_error_fn& on_read_error) {
    error e = ec == http::error::body_limit
                  ? make_error(errc::payload_too_large,
                               "request body exceeds the limit of " +
                                   std::to_string(body_limit_for(limits, parser.get().target())) + " bytes")
              : ec == http::error::bad_transfer_encoding
                  ? make_error(errc::bad_request,
                               "Transfer-Encoding is not accepted on requests: send the body with a Content-Length")
                  : make_error(errc::bad_request, "malformed HTTP request: " + ec.message());
    if (on_read_error) {
        // The target is there once the request line was read, even when a header (such as a
        // Content-Length over the limit) stopped the parse; empty before.
        return on_read_error(parser.get().target(), e);
    }
    return error_response(e);
}

/// The bytes of a complete "Connection: close" error response, for a connection refused before
/// anything was read from it (so in the native shape: the route is unknown).
std::string canned_reply(errc code, std::string message) {
    response res = error_response(make_error(code, std::move(message)));
    res.keep_alive(false);
    res.prepare_payload();
    std::ostringstream out;
    out << res;
    return out.str();
}

/// Waits for the first byte of a keep-alive connection's next request, up to `idle`; true when
/// one is in `buffer`. (Only then does the request's own read_timeout start.)
net::awaitable<bool> wait_next_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       std::chrono::milliseconds idle) {
    if (buffer.size() > 0) {
        co_return true;  // pipelined: already here
    }
    beast::error_code ec;
    stream.expires_after(idle);
    auto n = co_await stream.async_read_some(buffer.prepare(4096), net::redirect_error(net::use_awaitable, ec));
    buffer.commit(n);
    co_return !ec && n > 0;
}

/// Reads the next request: the head under the largest body limit (Beast checks Content-Length
/// against it as the head ends), then the body under its route's. Nothing when the connection
/// is to close: the client left or timed out, or sent a malformed or oversized request (then
/// answered here). A coroutine of its own so that the parser and the error reply live only while
/// a request is read, not in the session's frame for as long as its stream stays open.
net::awaitable<std::optional<request>> read_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                    const session_settings& s, const std::string& remote) {
    const auto& limits = s.limits;
    beast::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(largest_body_limit(limits));
    // One deadline for the whole head and body: a client trickling bytes does not extend it.
    stream.expires_after(limits.read_timeout);
    co_await http::async_read_header(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (!ec) {
        const auto limit = body_limit_for(limits, parser.get().target());
        parser.body_limit(limit);
        if (auto n = parser.content_length(); n && *n > limit) {
            ec = http::error::body_limit;
        } else if (parser.chunked()) {
            // Chunked request bodies are refused before any chunk is parsed: the clients this
            // serves send Content-Length, and Boost 1.74's chunk parser asserts (aborts a
            // build with assertions) when the bytes after a final "0\r\n" arrive one at a time
            // (the fuzzer's find, tests/fuzz/corpus/http_request/chunked_final_split.http).
            ec = http::error::bad_transfer_encoding;
        }
    }
    if (!ec) {
        co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::eof) {
        co_return std::nullopt;
    }
    if (ec) {
        // A malformed or oversized request: answer it, then close (the framing is lost).
        request dummy;
        dummy.version(11);
        request_context ctx{dummy, stream, remote, false, 0, limits.write_timeout};
        // Built in a named local: g++ 12 miscompiles a ?: of temporaries inside co_await.
        response res = read_error_response(parser, ec, limits, s.on_read_error);
        co_await send(ctx, std::move(res));
        co_return std::nullopt;
    }
    stream.expires_never();
    co_return parser.release();
}

// Its frame lives as long as the connection, so it holds only what the connection needs while
// its handler runs (a stream may stay open for minutes): reading a request is read_request's.
net::awaitable<void> run_session(tcp::socket socket, std::string remote, std::shared_ptr<const session_settings> s,
                                 std::shared_ptr<connection_limiter> limiter) {
    struct release_guard {
        std::shared_ptr<connection_limiter> l;
        std::string address;
        ~release_guard() { l->release(address); }
    } guard{std::move(limiter), std::move(remote)};

    beast::error_code ec;
    socket.set_option(tcp::no_delay{true}, ec);
    beast::tcp_stream stream{std::move(socket)};
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        if (!first && !co_await wait_next_request(stream, buffer, s->limits.idle_timeout)) {
            break;
        }
        first = false;
        std::optional<request> req = co_await read_request(stream, buffer, *s, guard.address);
        if (!req) {
            break;
        }
        if (buffer.size() == 0) {
            // Nothing pipelined: the read buffer is not kept for a handler that may stream for
            // minutes (wait_next_request allocates it again).
            buffer.shrink_to_fit();
        }
        request_context ctx{*req, stream, guard.address, req->keep_alive(), 0, s->limits.write_timeout};
        co_await s->on_request(ctx);
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
    http::response_serializer<http::string_body> sr{res};
    // HEAD: the head of the GET response (its Content-Length included), never its body, or the
    // next request on the connection would be read from the body's bytes.
    const bool head_only = ctx.req.method() == http::verb::head;
    beast::error_code ec;
    // Piece by piece, each with its own deadline: a slow reader may take its time, one that
    // stopped reading is cut off after write_timeout.
    while (!ec && !(head_only ? sr.is_header_done() : sr.is_done())) {
        ctx.stream.expires_after(ctx.write_timeout);
        if (head_only) {
            co_await http::async_write_header(ctx.stream, sr, net::redirect_error(net::use_awaitable, ec));
        } else {
            co_await http::async_write_some(ctx.stream, sr, net::redirect_error(net::use_awaitable, ec));
        }
    }
    ctx.stream.expires_never();
    if (ec) {
        ctx.keep_alive = false;
    }
}

listener::listener(net::io_context& ioc, const tcp::endpoint& ep, handler h, server_limits limits,
                   read_error_fn on_read_error)
    : listener(
          ioc, [&ioc]() -> net::io_context& { return ioc; }, ep, std::move(h), std::move(limits),
          std::move(on_read_error)) {}

listener::listener(io_context_pool& pool, const tcp::endpoint& ep, handler h, server_limits limits,
                   read_error_fn on_read_error)
    : listener(
          pool.main(), [&pool]() -> net::io_context& { return pool.next(); }, ep, std::move(h), std::move(limits),
          std::move(on_read_error)) {}

listener::listener(net::io_context& acceptor_context, std::function<net::io_context&()> session_context,
                   const tcp::endpoint& ep, handler h, server_limits limits, read_error_fn on_read_error)
    : session_context_{std::move(session_context)},
      acceptor_{acceptor_context},
      settings_{
          std::make_shared<const session_settings>(session_settings{std::move(h), limits, std::move(on_read_error)})},
      limiter_{std::make_shared<connection_limiter>(limits.max_connections, limits.max_connections_per_address)},
      overloaded_reply_{canned_reply(errc::overloaded, "this server has too many open connections; retry shortly")},
      per_address_reply_{canned_reply(errc::too_many_connections,
                                      "too many open connections from your address; close some and retry")} {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
}

void listener::start() {
    net::co_spawn(
        acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); }, net::detached);
}

void listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        beast::error_code ec;
        self->acceptor_.close(ec);
    });
}

listener_stats listener::stats() const {
    return {limiter_->open(), refused_.load(), accept_backoffs_.load()};
}

void listener::refuse(tcp::socket& socket, connection_limiter::verdict why) {
    ++refused_;
    const std::string& reply = why == connection_limiter::verdict::too_many ? overloaded_reply_ : per_address_reply_;
    // One non-blocking write into the new socket's empty send buffer: it fits, and nothing here
    // can wait on the client.
    beast::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(reply), ec);
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
}

net::awaitable<void> listener::accept_loop() {
    auto log = llmp::log::get("http");
    net::steady_timer pause{acceptor_.get_executor()};
    accept_backoff backoff{settings_->limits.accept_backoff};
    for (;;) {
        beast::error_code ec;
        auto strand = net::make_strand(session_context_());
        tcp::socket socket{strand};
        co_await acceptor_.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            if (!acceptor_.is_open()) {
                co_return;
            }
            auto wait = backoff.on_error(ec);
            if (wait.count() == 0) {
                continue;  // this connection failed (e.g. reset before accept); the next may not
            }
            // Out of descriptors or memory: pause (keep serving the connections we have).
            accept_backoffs_ = backoff.pauses();
            if (backoff.period_started()) {
                log->warn("msg=\"cannot accept connections, pausing\" error=\"{}\" open_connections={} pause_ms={}",
                          ec.message(), limiter_->open(), wait.count());
            }
            pause.expires_after(wait);
            co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
            continue;
        }
        if (backoff.on_accept()) {
            log->info("msg=\"accepting connections again\" pauses_total={}", backoff.pauses());
        }
        std::string remote;
        if (auto ep = socket.remote_endpoint(ec); !ec) {
            remote = ep.address().to_string();
        }
        if (auto v = limiter_->admit(remote); v != connection_limiter::verdict::admitted) {
            refuse(socket, v);
            continue;
        }
        // Not net::detached: an exception that escapes a handler ends only its connection, and
        // says so in the log instead of vanishing.
        net::co_spawn(strand, run_session(std::move(socket), std::move(remote), settings_, limiter_),
                      [log](std::exception_ptr e) {
                          if (!e) {
                              return;
                          }
                          try {
                              std::rethrow_exception(e);
                          } catch (const std::exception& x) {
                              log->error("msg=\"connection handler failed\" error=\"{}\"", x.what());
                          } catch (...) {
                              log->error("msg=\"connection handler failed\" error=\"unknown exception\"");
                          }
                      });
    }
}

}  // namespace llmp::http_server
