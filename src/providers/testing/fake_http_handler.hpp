#pragma once
// What a fake upstream implements: how it answers one request on a fake_http_server, and how
// that request left the connection. Only the fakes' own sources include this (it brings Beast).

#include "common/asio_fwd.hpp"
#include "providers/testing/fake_http_server.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <vector>

namespace llmp::providers::testing {

/// How a request left the connection.
enum class after { keep, close_by_server, client_gone, stopping };

using fake_request = http::request<http::string_body>;

class fake_http_handler {
public:
    virtual ~fake_http_handler() = default;
    /// Answers `req` on `stream` (keep-alive, closing and counting are the server's).
    virtual net::awaitable<after> handle(beast::tcp_stream& stream, const fake_request& req) = 0;
};

/// The body of the control hook PUT /_fake/models, {"models": ["name", ...]} (the list the fake
/// serves from then on: a model "pulled" or removed at run time); nullopt if it is not that.
std::optional<std::vector<std::string>> models_of(const std::string& body);

/// For a handler that stalls: waits until the client closes the connection (client_gone) or
/// `server` stops (stopping).
net::awaitable<after> wait_for_disconnect(const fake_http_server& server, beast::tcp_stream& stream);

}  // namespace llmp::providers::testing
