#pragma once
// run_io_context: how every service runs its io_context — on the calling thread plus `threads - 1`
// more — and returns only once it has stopped and every extra thread has been joined, so the
// service can stop its broker threads afterwards knowing no handler still runs.

#include "common/asio_fwd.hpp"

#include <boost/asio/io_context.hpp>

#include <thread>
#include <vector>

namespace llmp {

inline void run_io_context(net::io_context& ioc, int threads) {
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) {
        extra.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : extra) {
        t.join();
    }
}

}  // namespace llmp
