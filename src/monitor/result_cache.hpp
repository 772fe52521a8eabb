#pragma once
// result_cache: the dashboard's answers from the database, kept a few seconds and shared by
// every tab and client (issue 19: ten open tabs should cost the database about what one does).
// Keyed by the route and its canonical parameters; only successful answers are kept. How long:
// ttl_for(window), about a thousandth of the window: 2 s up to 5 minutes (a tab refreshes every
// 2 s, so tabs share one read per refresh, and a client that has just sent a request sees it
// within 2 s), 5 s up to an hour, 30 s up to a day, a minute beyond (the wide windows' numbers
// move little in that time; bench/RESULTS.md measured what a tab costs at each). The store only: shared_reads.hpp runs the queries
// once for every caller that misses at the same time, and reads wide windows again before
// they expire while someone reads them (due()).
// Thread-safe (one mutex): called from the io threads' handlers.

#include "common/mutex.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmp::monitor {

class result_cache {
public:
    using clock = std::chrono::steady_clock;

    /// The cached answer for `key`, unless it has expired; marks the entry as read.
    std::optional<nlohmann::json> get(const std::string& key, clock::time_point now = clock::now());
    /// Keeps `body` for `ttl`; drops expired entries now and then, so the map stays small.
    void put(const std::string& key, nlohmann::json body, std::chrono::milliseconds ttl,
             clock::time_point now = clock::now());
    /// The keys of the entries kept at least `min_ttl` that were read since they were stored
    /// and expire within `lead` (but have not yet): what is worth reading again now.
    std::vector<std::string> due(clock::time_point now, std::chrono::milliseconds lead,
                                 std::chrono::milliseconds min_ttl) const;
    /// Whether `key` holds an answer that has not expired.
    bool alive(const std::string& key, clock::time_point now = clock::now()) const;

    /// 0 = do not cache.
    static std::chrono::milliseconds ttl_for(std::int64_t window_s);
    /// The request list's pages, whatever their window: the newest rows are what a tab shows.
    static constexpr std::chrono::milliseconds list_ttl{2000};

    std::uint64_t hits() const;
    std::uint64_t misses() const;

private:
    struct entry {
        clock::time_point expires;
        std::chrono::milliseconds ttl;
        bool read = false;
        nlohmann::json body;
    };
    mutable llmp::mutex mu_;
    std::map<std::string, entry> entries_ GUARDED_BY(mu_);
    std::uint64_t hits_ GUARDED_BY(mu_) = 0;
    std::uint64_t misses_ GUARDED_BY(mu_) = 0;
    std::uint64_t puts_ GUARDED_BY(mu_) = 0;
};

}  // namespace llmp::monitor
