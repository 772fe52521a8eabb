#pragma once
// response_sink: the inbox of one client stream. The response consumer thread (and the
// publisher thread, for the publish outcome) call deliver() from their own threads; the events
// are posted to the stream's strand, where the HTTP handler coroutine drains them with take()
// and waits with wait().
//
// Lifecycle: made by the handler, registered in the stream_registry under the request id,
// unregistered by the handler when the stream ends. The registry holds weak pointers, so a
// late message for a finished stream is dropped.
//
// Bounded: past `max_buffered_bytes` of undrained text (a client that cannot keep up) the sink
// marks itself overflowed, calls the on_overflow hook once (the relay cancels its pending write
// there, which may be blocked on that very client) and drops every later event: what it holds
// never grows past the cap plus one chunk.

#include "api/stream_event.hpp"
#include "common/asio_fwd.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>

namespace llmp::api {

class response_sink : public std::enable_shared_from_this<response_sink> {
public:
    response_sink(net::any_io_executor strand, std::size_t max_buffered_bytes);

    /// Any thread.
    void deliver(sink_input ev);

    // Strand only:
    /// Waits until a response event is queued (or the sink overflowed); false if `deadline`
    /// passed first.
    net::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline);
    /// Waits for the outcome of publishing the request; nullopt if `deadline` passed first.
    /// With `answer_proves_it`, a worker's chunk or final queued first is taken as `confirmed`:
    /// a worker answers only a request the broker routed to it, and the broker confirms a
    /// persistent message only once it is on disk, under load tens of milliseconds after the
    /// worker's first token (a worker's error, or one the API itself delivers, is no such proof).
    net::awaitable<std::optional<publish_outcome>> wait_published(std::chrono::steady_clock::time_point deadline,
                                                                  bool answer_proves_it = false);
    /// Forgets the outcome waited for, so that wait_published awaits the next (a resumable
    /// stream awaits its binding first, then its request's publish).
    void forget_published() { published_.reset(); }
    /// The publish outcome delivered so far (nothing yet: unanswered).
    const std::optional<publish_outcome>& published() const { return published_; }
    std::list<stream_event>& events() { return events_; }
    void consumed(std::size_t bytes) { buffered_ -= bytes < buffered_ ? bytes : buffered_; }
    bool overflowed() const { return overflowed_; }
    /// Called once, on the strand, when the sink overflows.
    void on_overflow(std::function<void()> fn) { on_overflow_ = std::move(fn); }
    /// The client closed its connection (seen by the relay's socket watch).
    void mark_client_gone() {
        client_gone_ = true;
        signal_.cancel();
    }
    bool client_gone() const { return client_gone_; }

private:
    void on_event(sink_input ev);
    /// One wait on signal_ (cancelled = something arrived); ec as the timer left it.
    net::awaitable<void> wait_signal(boost::system::error_code& ec);

    net::any_io_executor strand_;
    net::steady_timer signal_;
    /// Chunk, final and error events. A list, not a deque: an empty list allocates nothing,
    /// while libstdc++'s deque keeps a map and a node (~400 bytes here) for as long as the
    /// stream is open, and events are drained as they come, so there is no run to batch.
    std::list<stream_event> events_;
    std::optional<publish_outcome> published_;
    bool answered_ = false;  ///< a chunk or final was queued (see wait_published)
    std::size_t buffered_ = 0;
    std::size_t max_buffered_;
    bool overflowed_ = false;
    std::function<void()> on_overflow_;
    bool client_gone_ = false;
};

}  // namespace llmp::api
