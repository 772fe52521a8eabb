#include "http/io_context_pool.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <algorithm>
#include <thread>

namespace llmp::http_server {

io_context_pool::io_context_pool(int threads) {
    const int n = std::max(1, threads);
    contexts_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        contexts_.push_back(std::make_unique<net::io_context>(1));
    }
}

net::io_context& io_context_pool::next() {
    return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void io_context_pool::run() {
    using guard = net::executor_work_guard<net::io_context::executor_type>;
    std::vector<guard> idle_guards;
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
        idle_guards.emplace_back(contexts_[i]->get_executor());
        threads.emplace_back([c = contexts_[i].get()] { c->run(); });
    }
    main().run();
    // main() has stopped: so do the others, whatever stopped main(). stop() ends a context's
    // run() whatever work it holds, the idle guards included.
    stop();
    for (auto& t : threads) {
        t.join();
    }
}

void io_context_pool::stop() {
    for (auto& c : contexts_) {
        c->stop();
    }
}

}  // namespace llmp::http_server
