#pragma once
// client_connection: what the relay needs from the client's HTTP connection — send one whole
// response, or stream one (start, write, finish), notice the client hanging up, and cut a client
// that does not read. http_client_connection is the real one (a Beast connection);
// api/testing/fake_client_connection.hpp scripts one for relay_test.
//
// Thread-safety: the connection's strand only, like the relay that uses it.

#include "common/asio_fwd.hpp"
#include "http/server.hpp"
#include "keys/api_key.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::api {

/// The parts of the client's request the relay reads, besides the parsed body.
struct client_request {
    std::string route;  ///< the request path (metrics label, stored in the request message)
    std::string remote_addr;
    std::string user_agent;
    std::optional<std::string> timeout_header;   ///< X-Request-Timeout-Ms
    std::optional<std::string> priority_header;  ///< X-Priority
    std::optional<std::string> authorization;    ///< Authorization (api/auth.hpp; never logged)
    std::optional<std::string> x_api_key;        ///< x-api-key, the key itself (Anthropic's header; never logged)
    /// The key the route wrapper found in `authorization` (auth keys), so that a request's key
    /// is hashed and looked up once; null without a wrapper (the relay looks it up then).
    std::shared_ptr<const keys::usable_key> key;
};

class client_connection {
public:
    using header_list = std::vector<std::pair<std::string, std::string>>;

    virtual ~client_connection() = default;

    /// A complete response: an error before streaming, or the one reply of a non-streamed request.
    virtual net::awaitable<void> send(http_server::response res) = 0;
    /// Writes a streamed reply's status (200) and headers; an error = the client is gone.
    virtual net::awaitable<beast::error_code> start_stream(std::string_view content_type,
                                                           const header_list& headers) = 0;
    /// One piece of the stream. beast::error::timeout: no progress within the write timeout;
    /// operation_aborted: cancelled by cancel_write(); anything else: the client is gone.
    virtual net::awaitable<beast::error_code> write(std::string_view data) = 0;
    /// The end of the stream; the connection may carry the next request.
    virtual net::awaitable<void> finish() = 0;
    /// Calls `gone` once, on the strand, when the client closes its side while the relay only
    /// writes. Ends with stop_watching().
    virtual void watch(std::function<void()> gone) = 0;
    virtual void stop_watching() = 0;
    /// Cancels a write in progress (a client that does not keep up); callable from a sink hook.
    virtual void cancel_write() = 0;
    /// Drops the connection without another byte (a client that does not read).
    virtual void close() = 0;
};

}  // namespace llmp::api
