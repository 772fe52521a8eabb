#pragma once
// io_context_pool: one io_context per I/O thread, each run by exactly that thread, instead of one
// io_context run by several threads.
//
// Why: with one io_context and N threads, Asio wakes an idle thread (a futex) for nearly every
// handler posted, and the handlers of one connection hop between the threads (each hop a
// wake-up and an epoll_ctl). An HTTP connection of the API is a chain of small handlers per
// token, so that cost was per token: at 128 streams paced at 10 ms a token, the API on this
// pool used 0.91-0.93x the CPU per token of one io_context on two threads, with a third of the
// futex calls (bench/RESULTS.md, "One io_context per I/O thread in the API"). Here a
// connection is given one context for its whole life (round robin at accept), so its handlers,
// timers and the deliveries posted to its strand all run on one thread, and the threads still
// share the connections between them.
//
// Each context is made with concurrency hint 1 (one thread runs it: Asio then keeps posts made
// on that thread in a thread-private queue); posting to it from any other thread stays safe.

#include "common/asio_fwd.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace llmp::http_server {

class io_context_pool {
public:
    /// `threads` contexts (at least one).
    explicit io_context_pool(int threads);
    io_context_pool(const io_context_pool&) = delete;
    io_context_pool& operator=(const io_context_pool&) = delete;

    /// The first context: run by the thread that calls run(); the listener's acceptor, signals
    /// and process-wide timers live here.
    net::io_context& main() { return *contexts_.front(); }
    /// The context for the next connection (round robin over all of them, main included).
    net::io_context& next();
    std::size_t size() const { return contexts_.size(); }

    /// Runs main() on the calling thread and every other context on a thread of its own; returns
    /// once main() has stopped (stop(), or it ran out of work) and every other thread has been
    /// joined. The other contexts are kept running while idle until then.
    void run();
    /// Stops every context (thread-safe; their pending handlers stay until destruction).
    void stop();

private:
    std::vector<std::unique_ptr<net::io_context>> contexts_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace llmp::http_server
