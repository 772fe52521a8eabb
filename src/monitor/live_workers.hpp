#pragma once
// live_workers: what the workers' heartbeats say right now, with when each was last heard and a
// state ("live", "stale": silent past `stale_after`, "left": said goodbye). Unlike the API's
// worker_registry (which forgets a silent worker, because it routes by it), the monitor keeps
// every worker it has heard for `forget_after`, so an operator sees one go stale or leave.
//
// Threading: update() from the heartbeat consumer thread, snapshot() from HTTP handlers; a
// mutex guards the map and is held only to copy.

#include "common/messages.hpp"
#include "common/mutex.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmp::monitor {

struct live_worker {
    worker_heartbeat hb;
    std::string state;              ///< "live", "stale" or "left"
    std::int64_t last_seen_ms = 0;  ///< unix ms, this monitor's clock
    double seen_ago_s = 0;
};

class live_workers {
public:
    using clock = std::chrono::system_clock;
    live_workers(std::chrono::milliseconds stale_after, std::chrono::milliseconds forget_after)
        : stale_after_{stale_after}, forget_after_{forget_after} {}

    void update(const worker_heartbeat& hb, clock::time_point now = clock::now());
    /// Every worker heard within forget_after, sorted by id.
    std::vector<live_worker> snapshot(clock::time_point now = clock::now()) const;
    /// Sum of in_flight over live workers.
    std::int64_t in_flight(clock::time_point now = clock::now()) const;

private:
    struct entry {
        worker_heartbeat hb;
        clock::time_point seen;
    };
    std::chrono::milliseconds stale_after_;
    std::chrono::milliseconds forget_after_;
    mutable llmp::mutex mu_;
    std::unordered_map<std::string, entry> workers_ GUARDED_BY(mu_);
};

}  // namespace llmp::monitor
