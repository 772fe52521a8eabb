#pragma once
// stream_client: drives one streaming request (SSE) against the API server and records what a
// client saw, with timings. Used by the end-to-end tests and by bench/loadgen.

#include "common/asio_fwd.hpp"
#include "http/client.hpp"
#include "support/sse_parser.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace llmp::testing {

/// When a stream's text arrived: the mean of its bytes' arrival times (stream_result::text_ms,
/// and the load generator's readers).
struct text_arrival {
    double bytes = 0;
    double weighted_ms = 0;

    void add(std::size_t n, double now_ms) {
        bytes += static_cast<double>(n);
        weighted_ms += static_cast<double>(n) * now_ms;
    }
    /// -1 while no text has come.
    double mean_ms() const { return bytes > 0 ? weighted_ms / bytes : -1; }
};

struct stream_result {
    unsigned status = 0;
    std::string error;  ///< transport error, empty when the stream ended normally
    std::string content_type;
    std::vector<sse_event> events;
    std::string body;     ///< the raw body (non-SSE replies, or for byte checks)
    double ttft_ms = -1;  ///< until the first "token" event
    double total_ms = 0;
    std::size_t tokens = 0;  ///< "token" events
    /// When the answer's text arrived: the mean, over the bytes of the token events' content,
    /// of their arrival time since the request was sent (-1: no text). Holding tokens to send
    /// them together (the worker's chunk flush) shows here, not in ttft_ms.
    double text_ms = -1;

    /// The concatenated "content" of the token events.
    std::string text() const;
    const sse_event* find(std::string_view event) const;
};

/// POSTs `body` to `target` and reads the whole reply, parsing SSE if it is an event stream.
/// Runs on a strand of the awaiting coroutine's executor.
net::awaitable<stream_result> run_stream(const http_client::client& c, std::string target, std::string body);
/// The same with `headers` sent besides Content-Type (e.g. Authorization). By reference, not by
/// value: a temporary in a co_await expression is what GCC 12 miscompiles; the caller keeps
/// `headers` alive until the stream ends.
net::awaitable<stream_result> run_stream(const http_client::client& c, std::string target, std::string body,
                                         const std::vector<std::pair<std::string, std::string>>& headers);

/// Runs `bodies` as concurrent streams against 127.0.0.1:port (one connection each), using
/// `threads` client threads. Results are in the order of `bodies`.
std::vector<stream_result> run_concurrent_streams(unsigned port, const std::string& target,
                                                  const std::vector<std::string>& bodies, int threads = 2);

/// The same, with per-request targets and ports (e.g. spread over several API servers).
struct stream_request {
    unsigned port = 0;
    std::string target;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  ///< besides Content-Type
};
std::vector<stream_result> run_concurrent_streams(const std::vector<stream_request>& reqs, int threads = 2);

}  // namespace llmp::testing
