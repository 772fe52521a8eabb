#pragma once
// result_cache: the dashboard's answers from the database, kept a few seconds and shared by
// every tab and client (issue 19: ten open tabs should cost the database about what one does).
// Keyed by the route and its canonical parameters; only successful answers are kept. How long:
// ttl_for(window) — not at all up to an hour (those windows read the rows by index and cost
// little; a client that has just sent a request expects to see it), 10 s up to a day, 30 s
// beyond: wide windows read the rollups, and their numbers move little in a few seconds. No
// single flight: tabs that miss at the same instant each run the query once, then share it.
// Thread-safe (one mutex): called from the io threads' handlers.

#include "common/mutex.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace llmp::monitor {

class result_cache {
public:
    using clock = std::chrono::steady_clock;

    /// The cached answer for `key`, unless it has expired.
    std::optional<nlohmann::json> get(const std::string& key, clock::time_point now = clock::now());
    /// Keeps `body` for `ttl`; drops expired entries now and then, so the map stays small.
    void put(const std::string& key, nlohmann::json body, std::chrono::milliseconds ttl,
             clock::time_point now = clock::now());

    /// 0 = do not cache.
    static std::chrono::milliseconds ttl_for(std::int64_t window_s);

    std::uint64_t hits() const;
    std::uint64_t misses() const;

private:
    struct entry {
        clock::time_point expires;
        nlohmann::json body;
    };
    mutable llmp::mutex mu_;
    std::map<std::string, entry> entries_ GUARDED_BY(mu_);
    std::uint64_t hits_ GUARDED_BY(mu_) = 0;
    std::uint64_t misses_ GUARDED_BY(mu_) = 0;
    std::uint64_t puts_ GUARDED_BY(mu_) = 0;
};

}  // namespace llmp::monitor
