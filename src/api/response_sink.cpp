#include "api/response_sink.hpp"

#include "api/exact_allocator.hpp"

#include <boost/asio/execution.hpp>
#include <boost/asio/require.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace llmp::api {

response_sink::response_sink(net::any_io_executor strand, std::size_t max_buffered_bytes)
    : strand_{std::move(strand)}, signal_{strand_}, max_buffered_{max_buffered_bytes} {}

void response_sink::deliver(sink_input ev) {
    // The strand's own execute() with blocking.never (never inline, as post), not net::post():
    // on the type-erased executor post makes three more copies of it (work tracking,
    // relationship.fork, its allocator), each an atomic count on the strand, per token. The
    // work count post would add is not needed: a queued handler keeps its io_context running.
    net::execution::execute(
        net::require(strand_, net::execution::blocking.never),
        [self = shared_from_this(), ev = std::move(ev)]() mutable { self->on_event(std::move(ev)); });
}

void response_sink::on_event(sink_input ev) {
    std::visit(
        [this](auto&& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, publish_outcome>) {
                published_ = e;
            } else {
                if (overflowed_) {
                    return;  // the stream is being cut off: nothing more is relayed
                }
                if constexpr (std::is_same_v<T, chunk_event> || std::is_same_v<T, final_message>) {
                    answered_ = true;
                }
                if constexpr (std::is_same_v<T, chunk_event>) {
                    buffered_ += e.text.size();
                    if (buffered_ > max_buffered_) {
                        overflowed_ = true;
                        if (on_overflow_) {
                            on_overflow_();
                        }
                        return;
                    }
                }
                events_.emplace_back(std::move(e));
            }
        },
        std::move(ev));
    signal_.cancel();
}

net::awaitable<void> response_sink::wait_signal(boost::system::error_code& ec) {
    // The wait an idle stream sits in: its operation allocated at its own size, not in a
    // recycled larger block (exact_allocator.hpp).
    // Not a coroutine itself: no frame of its own beside the one async_initiate makes anyway.
    auto token = net::redirect_error(net::use_awaitable, ec);
    return net::async_initiate<decltype(token), void(boost::system::error_code)>(
        [this](auto handler) { signal_.async_wait(exact_allocation{std::move(handler)}); }, token);
}

net::awaitable<std::optional<publish_outcome>> response_sink::wait_published(
    std::chrono::steady_clock::time_point deadline, bool answer_proves_it) {
    while (!published_ && !(answer_proves_it && answered_)) {
        signal_.expires_at(deadline);
        boost::system::error_code ec;
        co_await wait_signal(ec);
        if (!ec) {
            break;  // the deadline passed
        }
    }
    if (!published_ && answer_proves_it && answered_) {
        co_return publish_outcome::confirmed;
    }
    co_return published_;
}

net::awaitable<bool> response_sink::wait(std::chrono::steady_clock::time_point deadline) {
    while (events_.empty() && !overflowed_ && !client_gone_) {
        signal_.expires_at(deadline);
        boost::system::error_code ec;
        co_await wait_signal(ec);
        if (!ec) {
            break;  // the deadline passed (cancelled = something arrived)
        }
    }
    co_return !events_.empty() || overflowed_ || client_gone_;
}

}  // namespace llmp::api
