#include "monitor/live_workers.hpp"

#include <algorithm>

namespace llmp::monitor {

void live_workers::update(const worker_heartbeat& hb, clock::time_point now) {
    llmp::lock_guard lock{mu_};
    auto& e = workers_[hb.worker_id];
    e.hb = hb;
    for (auto& m : e.hb.models) {
        m = normalize_model_name(m);
    }
    e.seen = now;
    // Forget long-gone workers here, on the writer's side, so the map stays bounded.
    std::erase_if(workers_, [&](const auto& kv) { return now - kv.second.seen > forget_after_; });
}

std::vector<live_worker> live_workers::snapshot(clock::time_point now) const {
    std::vector<live_worker> out;
    {
        llmp::lock_guard lock{mu_};
        for (const auto& [id, e] : workers_) {
            auto age = now - e.seen;
            if (age > forget_after_) {
                continue;
            }
            live_worker w;
            w.hb = e.hb;
            w.state = e.hb.leaving ? "left" : age > stale_after_ ? "stale" : "live";
            w.last_seen_ms = std::chrono::duration_cast<std::chrono::milliseconds>(e.seen.time_since_epoch()).count();
            w.seen_ago_s = std::chrono::duration<double>(age).count();
            out.push_back(std::move(w));
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.hb.worker_id < b.hb.worker_id; });
    return out;
}

std::int64_t live_workers::in_flight(clock::time_point now) const {
    std::int64_t n = 0;
    llmp::lock_guard lock{mu_};
    for (const auto& [id, e] : workers_) {
        if (!e.hb.leaving && now - e.seen <= stale_after_) {
            n += e.hb.in_flight;
        }
    }
    return n;
}

}  // namespace llmp::monitor
