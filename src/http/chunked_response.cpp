#include "http/chunked_response.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <type_traits>

namespace llmp::http_server {
namespace {

/// Writes all of `buffers`, failing with beast::error::timeout (the socket then closed) when one
/// write makes no progress for `timeout`: a slow reader may take its time, one that stopped
/// reading cannot hold the stream forever.
template <class ConstBufferSequence>
net::awaitable<beast::error_code> write_all(beast::tcp_stream& stream, const ConstBufferSequence& buffers,
                                            std::chrono::milliseconds timeout) {
    beast::buffers_suffix<ConstBufferSequence> rest{buffers};
    beast::error_code ec;
    while (!ec && beast::buffer_bytes(rest) > 0) {
        stream.expires_after(timeout);
        auto n = co_await stream.async_write_some(rest, net::redirect_error(net::use_awaitable, ec));
        rest.consume(n);
    }
    stream.expires_never();
    co_return ec;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> sse_headers() {
    return {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
}

net::awaitable<beast::error_code> chunked_response::start(
    http::status status, std::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
    http::response<http::empty_body> res{status, ctx_.req.version() == 0 ? 11 : ctx_.req.version()};
    res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) {
        res.set(k, v);
    }
    res.keep_alive(ctx_.keep_alive);
    res.chunked(true);
    ctx_.status = res.result_int();
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    ctx_.stream.expires_after(ctx_.write_timeout);
    co_await http::async_write_header(ctx_.stream, sr, net::redirect_error(net::use_awaitable, ec));
    ctx_.stream.expires_never();
    started_ = !ec;
    if (ec) {
        ctx_.keep_alive = false;
    }
    co_return ec;
}

net::awaitable<beast::error_code> chunked_response::write(std::string_view data) {
    beast::error_code ec;
    if (data.empty()) {
        co_return ec;  // an empty chunk would end the body
    }
    const auto chunk = http::make_chunk(net::const_buffer{data.data(), data.size()});
    // Most writes fit in the socket's send buffer: one non-blocking writev, no timer armed and
    // no suspension (the relay writes once per batch of tokens, so this is the per-token path).
    // Whatever did not fit is written asynchronously, under the write timeout.
    beast::buffers_suffix<std::decay_t<decltype(chunk)>> rest{chunk};
    auto& socket = ctx_.stream.socket();
    if (!socket.non_blocking()) {
        socket.non_blocking(true, ec);
    }
    if (!ec) {
        rest.consume(socket.write_some(rest, ec));
        if (ec == net::error::would_block || ec == net::error::try_again) {
            ec = {};
        }
    }
    if (!ec && beast::buffer_bytes(rest) > 0) {
        ec = co_await write_all(ctx_.stream, rest, ctx_.write_timeout);
    }
    if (ec) {
        ctx_.keep_alive = false;
    }
    co_return ec;
}

net::awaitable<beast::error_code> chunked_response::finish() {
    auto ec = co_await write_all(ctx_.stream, http::make_chunk_last(), ctx_.write_timeout);
    if (ec) {
        ctx_.keep_alive = false;
    }
    co_return ec;
}

}  // namespace llmp::http_server
