#include "api/response_sink.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace llmp::api {

response_sink::response_sink(net::any_io_executor strand, std::size_t max_buffered_bytes)
    : strand_{std::move(strand)}, signal_{strand_}, max_buffered_{max_buffered_bytes} {}

void response_sink::deliver(stream_event ev) {
    net::post(strand_, [self = shared_from_this(), ev = std::move(ev)]() mutable {
        self->on_event(std::move(ev));
    });
}

void response_sink::on_event(stream_event ev) {
    if (const auto* c = std::get_if<chunk_event>(&ev)) {
        buffered_ += c->text.size();
        if (buffered_ > max_buffered_) {
            overflowed_ = true;
        }
    }
    events_.push_back(std::move(ev));
    signal_.cancel();
}

net::awaitable<bool> response_sink::wait(std::chrono::steady_clock::time_point deadline) {
    if (!events_.empty() || overflowed_) {
        co_return true;
    }
    signal_.expires_at(deadline);
    boost::system::error_code ec;
    co_await signal_.async_wait(net::redirect_error(net::use_awaitable, ec));
    // Cancelled = an event arrived; expired = the deadline passed.
    co_return !events_.empty() || ec == net::error::operation_aborted;
}

}  // namespace llmp::api
