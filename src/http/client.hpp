#pragma once
// HTTP/1.1 client for upstream LLM servers (Ollama today), on Boost.Beast with C++20 coroutines.
//
// A `client` is bound to one base URL (`http://host:port[/prefix]`) and owns a small pool of idle
// keep-alive connections to it. It is cheap to share (shared_ptr) and thread-safe: the pool is
// guarded by a mutex, nothing else in it changes after construction.
//
// One request/response is an `exchange`. It is created for one strand (the executor its
// coroutines run on) and must only be used from there:
//   auto ex = client->make_exchange(strand);
//   auto head = co_await ex->send(req);             // connect or reuse, write, read the head
//   for (;;) { auto bytes = co_await ex->read_some(); ... }   // body as it arrives; "" = end
//   ex->cancel();                                     // from the same strand: aborts at once
// A connection goes back to the pool only after a complete response that allows keep-alive.
// A reused connection that the server had closed meanwhile is detected (or fails before any
// response byte) and the request is retried once on a fresh connection.
//
// Timeouts: `connect_timeout` for connecting, `idle_timeout` for every write and every read
// (the longest silence allowed between two pieces of the response).
//
// Errors are values: llmp::error with one of the client_errc codes below and a message that
// names the peer and URL ("cannot connect to Ollama at http://127.0.0.1:11434: Connection
// refused"). Nothing here throws into Asio.

// result.hpp first: Boost 1.74 <boost/asio/awaitable.hpp> uses std::exchange without <utility>.
#include "common/result.hpp"
#include "common/asio_fwd.hpp"

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::http_client {

/// The `error::code` values the client produces.
namespace client_errc {
inline constexpr std::string_view bad_url = "bad_url";
inline constexpr std::string_view connect_failed = "connect_failed";  ///< resolve/refused/unreachable
inline constexpr std::string_view connect_timeout = "connect_timeout";
inline constexpr std::string_view idle_timeout = "idle_timeout";            ///< silence while writing/reading
inline constexpr std::string_view connection_closed = "connection_closed";  ///< peer closed mid-response
inline constexpr std::string_view io_error = "io_error";
inline constexpr std::string_view protocol_error = "protocol_error";  ///< not valid HTTP
inline constexpr std::string_view body_too_large = "body_too_large";
inline constexpr std::string_view cancelled = "cancelled";
}  // namespace client_errc

struct client_options {
    /// Names the peer in error messages: "cannot connect to <peer_name> at <url>: ...".
    std::string peer_name = "upstream";
    /// Longest time to establish one TCP connection.
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest silence allowed while writing the request or between two reads of the response.
    std::chrono::milliseconds idle_timeout{300000};
    /// Idle keep-alive connections kept for reuse (0 disables reuse).
    int max_idle_connections = 64;
    /// A pooled connection idle for longer than this is closed instead of reused.
    std::chrono::milliseconds max_idle_age{60000};
    /// Sent as User-Agent.
    std::string user_agent = "llmproxy/0.1";
};

/// A parsed `http://host[:port][/prefix]` URL. Only plain http is supported.
struct base_url {
    std::string host;
    std::string port;    ///< "80" when absent
    std::string prefix;  ///< path prefix without a trailing '/', usually ""
    std::string text;    ///< the URL as given (without a trailing '/'), for messages

    static result<base_url> parse(std::string_view url);
};

struct outgoing_request {
    http::verb method = http::verb::get;
    std::string target;  ///< path and query, appended to the base URL's prefix: "/api/chat"
    std::string body;    ///< sent with Content-Length when non-empty (or method is POST/PUT)
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers
};

struct response_head {
    unsigned status = 0;
    std::string reason;
    std::string content_type;
    std::string retry_after;  ///< the Retry-After header, if any (429/503 answers)
};

struct response {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

namespace detail {
struct client_state;
}

class exchange;

class client {
public:
    /// Fails with "bad_url" for anything but http://host[:port][/prefix].
    static result<std::shared_ptr<client>> make(std::string_view url, client_options opts);

    explicit client(std::shared_ptr<detail::client_state> state);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    const base_url& url() const;
    const client_options& options() const;

    /// A new exchange doing its I/O on `strand`; use it only from coroutines running there.
    std::unique_ptr<exchange> make_exchange(net::any_io_executor strand) const;

    /// One request with the whole response body read (at most `max_body` bytes). Runs on a
    /// private strand of the awaiting coroutine's executor, so it can be awaited from any
    /// coroutine.
    net::awaitable<result<response>> fetch(outgoing_request req, std::size_t max_body = std::size_t{64} << 20) const;

    /// Idle pooled connections right now (for tests and stats).
    std::size_t idle_connections() const;
    /// TCP connections opened since construction (for tests and stats).
    std::uint64_t connections_opened() const;

private:
    std::shared_ptr<detail::client_state> state_;
};

/// One request and its response on one connection. Lives on one strand (see the top comment).
/// Destroying it mid-response closes the connection.
class exchange {
public:
    exchange(std::shared_ptr<detail::client_state> state, net::any_io_executor strand);
    ~exchange();
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    /// Connects (or reuses a pooled connection), writes `req` and reads the response head.
    net::awaitable<result<response_head>> send(const outgoing_request& req);

    /// The next bytes of the body, as soon as they arrive: everything received so far, up to
    /// 16 KiB, across as many chunks as it spans. The view stays valid until the next
    /// call. An empty view means the body is complete (the connection is back in the pool by
    /// then, if it could be kept). `timeout` overrides idle_timeout for this call.
    net::awaitable<result<std::string_view>> read_some(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

    /// Reads the rest of the body; fails with "body_too_large" past `limit` bytes.
    net::awaitable<result<std::string>> read_all(std::size_t limit);

    /// Aborts whatever is in progress now or later: closes the socket; the pending and any
    /// later operation completes with "cancelled". Call on the exchange's strand only.
    void cancel();

    bool cancelled() const { return cancelled_; }
    /// True once the whole body has been read.
    bool body_done() const { return body_done_; }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    bool cancelled_ = false;
    bool body_done_ = false;
};

}  // namespace llmp::http_client
