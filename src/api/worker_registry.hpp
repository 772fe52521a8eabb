#pragma once
// worker_registry: the live workers, as their heartbeats on the control exchange announce
// them. Updated by the response consumer thread, read by HTTP handlers; any thread.
// A worker silent for `ttl` (3 heartbeats) drops out; one that says it is leaving drops at once.

#include "common/messages.hpp"
#include "common/mutex.hpp"

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmp::api {

class worker_registry {
public:
    using clock = std::chrono::steady_clock;
    explicit worker_registry(std::chrono::milliseconds ttl) : ttl_{ttl} {}

    void update(const worker_heartbeat& hb, clock::time_point now = clock::now());

    /// Sorted, de-duplicated, normalized names of the models live workers serve.
    std::vector<std::string> models(clock::time_point now = clock::now()) const;
    bool serves(const std::string& model, clock::time_point now = clock::now()) const;
    std::vector<worker_heartbeat> live(clock::time_point now = clock::now()) const;
    /// True when worker `id` sent a heartbeat within `within` (and has not left).
    bool seen_within(const std::string& id, std::chrono::milliseconds within,
                     clock::time_point now = clock::now()) const;

private:
    struct entry {
        worker_heartbeat hb;
        clock::time_point seen;
    };
    std::chrono::milliseconds ttl_;
    mutable llmp::mutex mu_;
    std::unordered_map<std::string, entry> workers_ GUARDED_BY(mu_);
};

}  // namespace llmp::api
