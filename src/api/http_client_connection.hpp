#pragma once
// http_client_connection: client_connection over one Beast connection of the HTTP server
// (its request_context, a chunked_response for streams, a read-wait on the socket to notice a
// hang-up). Thread-safety: the connection's strand only.

#include "api/client_connection.hpp"
#include "http/chunked_response.hpp"

#include <memory>

namespace llmp::api {

/// The relay's view of `rc`'s request headers.
client_request client_request_of(const http_server::request_context& rc);

class http_client_connection final : public client_connection {
public:
    explicit http_client_connection(http_server::request_context& rc) : rc_{rc}, stream_{rc} {}
    ~http_client_connection() override { stop_watching(); }

    net::awaitable<void> send(http_server::response res) override;
    net::awaitable<beast::error_code> start_stream(std::string_view content_type, const header_list& headers) override;
    net::awaitable<beast::error_code> write(std::string_view data) override;
    net::awaitable<void> finish() override;
    void watch(std::function<void()> gone) override;
    void stop_watching() override;
    void cancel_write() override;
    void close() override;

private:
    http_server::request_context& rc_;
    http_server::chunked_response stream_;
    /// Cleared when watching ends, so a late completion of the socket wait does nothing.
    std::shared_ptr<bool> watching_;
};

}  // namespace llmp::api
