#pragma once
// fake_client_connection: a client_connection for relay_test. Records what the client received
// (one whole response, or a stream's headers, bytes and end) and plays the client's part as the
// test scripts it: hang up, refuse the stream's head, fail writes, or stop reading (writes then
// wait until cancelled). Single-threaded: the test's io_context thread.

#include "api/client_connection.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <optional>
#include <string>

namespace llmp::api::testing {

class fake_client_connection final : public client_connection {
public:
    explicit fake_client_connection(net::any_io_executor ex) : stall_{std::move(ex)} {}

    // What the client got.
    std::optional<http_server::response> reply;  ///< a whole response
    bool stream_started = false;
    std::string content_type;
    header_list stream_headers;
    std::string streamed;  ///< every byte written to the stream
    bool finished = false;
    bool closed = false;
    bool cancelled_write = false;
    bool write_pending = false;  ///< a write waits on a client that stopped reading

    // How the client behaves.
    beast::error_code start_error;  ///< the stream's head fails with this (the client left)
    beast::error_code write_error;  ///< every write fails with this
    bool stop_reading = false;      ///< writes wait until cancel_write()
    std::function<void()> on_send;  ///< called as a whole response is sent

    /// The client closes its connection (what the socket watch would see).
    void hang_up() {
        if (gone_) {
            auto gone = std::move(gone_);
            gone_ = nullptr;
            gone();
        }
    }
    bool watched() const { return static_cast<bool>(gone_); }

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : stream_headers) {
            if (n == name) {
                return v;
            }
        }
        return reply ? std::string{(*reply)[name]} : std::string{};
    }

    net::awaitable<void> send(http_server::response res) override {
        if (on_send) {
            on_send();
        }
        reply = std::move(res);
        co_return;
    }
    net::awaitable<beast::error_code> start_stream(std::string_view type, const header_list& headers) override {
        if (start_error) {
            co_return start_error;
        }
        stream_started = true;
        content_type = type;
        stream_headers = headers;
        co_return beast::error_code{};
    }
    net::awaitable<beast::error_code> write(std::string_view data) override {
        if (write_error) {
            co_return write_error;
        }
        if (stop_reading) {
            stall_.expires_at(std::chrono::steady_clock::time_point::max());
            beast::error_code ec;
            write_pending = true;
            co_await stall_.async_wait(net::redirect_error(net::use_awaitable, ec));
            write_pending = false;
            co_return net::error::operation_aborted;
        }
        streamed += data;
        co_return beast::error_code{};
    }
    net::awaitable<void> finish() override {
        finished = true;
        co_return;
    }
    void watch(std::function<void()> gone) override { gone_ = std::move(gone); }
    void stop_watching() override { gone_ = nullptr; }
    void cancel_write() override {
        cancelled_write = true;
        stall_.cancel();
    }
    void close() override {
        closed = true;
        gone_ = nullptr;
    }

private:
    net::steady_timer stall_;
    std::function<void()> gone_;
};

}  // namespace llmp::api::testing
