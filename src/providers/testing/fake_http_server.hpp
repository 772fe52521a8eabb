#pragma once
// The server half both fake LLM upstreams share (fake_ollama, fake_openai): bind, accept, one
// keep-alive session per connection, the counters tests wait on, and stop. A fake supplies only
// its handler: how it answers one request, and how that request left the connection.
//
// Lifecycle: the constructor binds (port 0 = any free port); start() runs the accept loop on
// its own threads; stop() (or the destructor) closes everything and joins them. The fake that
// derives from it stops it before its handler goes. Every accessor is thread-safe.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace llmp::providers::testing {

class fake_http_handler;  // fake_http_handler.hpp: kept out of this header, so the
                          // tests that only drive a fake do not compile Beast for it

class fake_http_server {
public:
    /// Binds `host`:`port`; `name` prefixes its error lines. Throws std::system_error if it cannot.
    fake_http_server(std::string name, const std::string& host, std::uint16_t port);
    ~fake_http_server();
    fake_http_server(const fake_http_server&) = delete;
    fake_http_server& operator=(const fake_http_server&) = delete;

    /// Serves every request with `h` on `threads` threads (at least one); `h` must outlive
    /// them: stop() before it goes.
    void start(fake_http_handler& h, int threads);
    /// Stops accepting, drops every connection, joins the threads. Idempotent.
    void stop();
    bool stopping() const;
    std::uint16_t port() const;

    /// HTTP requests received (all paths).
    std::uint64_t requests() const;
    std::uint64_t connections_accepted() const;
    std::uint64_t connections_open() const;
    /// Connections that ended because the client closed or reset them.
    std::uint64_t connections_closed_by_client() const;
    /// Generations begun (the fake counts them), and those the client left before the end.
    void generation_started();
    std::uint64_t generations_started() const;
    std::uint64_t generations_aborted() const;
    /// An image the fake received (decoded size), and an embedded text: counted for /_fake/stats.
    void image_received(std::uint64_t bytes);
    void texts_embedded(std::uint64_t n);
    /// GET /_fake/stats's counters: requests, posts, posts_at_once_max, connections_accepted, connections_open,
    /// generations_started/aborted,
    /// images_received, image_bytes_received, texts_embedded.
    nlohmann::json stats() const;

    /// Block until the counter reaches the bound or the timeout passes; false on timeout.
    bool wait_for_requests(std::uint64_t n, std::chrono::milliseconds timeout) const;
    bool wait_for_client_close(std::uint64_t n, std::chrono::milliseconds timeout) const;
    bool wait_for_connections_open_at_most(std::uint64_t n, std::chrono::milliseconds timeout) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::providers::testing
