#pragma once
// chunked_response: a streamed HTTP/1.1 response body (SSE or NDJSON), written as chunks as the
// data arrives. Never sets Content-Length; each write() is one chunk, flushed at once.
// Used from the connection's strand only (one write at a time: the caller awaits each).
// A write that makes no progress for ctx.write_timeout fails with beast::error::timeout (the
// socket is closed); a write cancelled by cancel() fails with operation_aborted.

#include "http/server.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::http_server {

class chunked_response {
public:
    explicit chunked_response(request_context& ctx) : ctx_{ctx} {}

    /// Writes status and headers. Extra headers are (name, value) pairs.
    net::awaitable<beast::error_code> start(http::status status, std::string_view content_type,
                                            const std::vector<std::pair<std::string, std::string>>& headers);
    net::awaitable<beast::error_code> write(std::string_view data);
    /// The last chunk; the connection may then carry the next request.
    net::awaitable<beast::error_code> finish();

    bool started() const { return started_; }

private:
    request_context& ctx_;
    bool started_ = false;
};

/// Headers every SSE response carries (protocols.md §3).
std::vector<std::pair<std::string, std::string>> sse_headers();

}  // namespace llmp::http_server
