#include "monitor/result_cache.hpp"

namespace llmp::monitor {

std::optional<nlohmann::json> result_cache::get(const std::string& key, clock::time_point now) {
    llmp::lock_guard lock{mu_};
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= now) {
        ++misses_;
        return std::nullopt;
    }
    ++hits_;
    it->second.read = true;
    return it->second.body;
}

void result_cache::put(const std::string& key, nlohmann::json body, std::chrono::milliseconds ttl,
                       clock::time_point now) {
    llmp::lock_guard lock{mu_};
    // Keys come from validated parameters, but `to=` may take any value: sweep expired entries
    // every 64 puts so a client walking through ranges cannot grow the map without bound.
    if (++puts_ % 64 == 0) {
        std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
    }
    entries_[key] = entry{now + ttl, ttl, false, std::move(body)};
}

std::vector<std::string> result_cache::due(clock::time_point now, std::chrono::milliseconds lead,
                                           std::chrono::milliseconds min_ttl) const {
    llmp::lock_guard lock{mu_};
    std::vector<std::string> keys;
    for (const auto& [key, e] : entries_) {
        if (e.read && e.ttl >= min_ttl && e.expires > now && e.expires - now <= lead) {
            keys.push_back(key);
        }
    }
    return keys;
}

bool result_cache::alive(const std::string& key, clock::time_point now) const {
    llmp::lock_guard lock{mu_};
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.expires > now;
}

std::chrono::milliseconds result_cache::ttl_for(std::int64_t window_s) {
    using std::chrono::milliseconds;
    if (window_s <= 300) {
        return milliseconds{2000};
    }
    if (window_s <= 3600) {
        return milliseconds{5000};
    }
    return milliseconds{window_s <= 86400 ? 30000 : 60000};
}

std::uint64_t result_cache::hits() const {
    llmp::lock_guard lock{mu_};
    return hits_;
}

std::uint64_t result_cache::misses() const {
    llmp::lock_guard lock{mu_};
    return misses_;
}

}  // namespace llmp::monitor
