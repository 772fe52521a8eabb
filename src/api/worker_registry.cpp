#include "api/worker_registry.hpp"

#include <algorithm>

namespace llmp::api {

void worker_registry::update(const worker_heartbeat& hb, clock::time_point now) {
    llmp::lock_guard lock{mu_};
    if (hb.leaving) {
        workers_.erase(hb.worker_id);
        return;
    }
    auto& e = workers_[hb.worker_id];
    e.hb = hb;
    for (auto& m : e.hb.models) {
        m = normalize_model_name(m);
    }
    e.seen = now;
}

std::vector<std::string> worker_registry::models(clock::time_point now) const {
    std::vector<std::string> out;
    llmp::lock_guard lock{mu_};
    for (const auto& [id, e] : workers_) {
        if (now - e.seen <= ttl_) {
            out.insert(out.end(), e.hb.models.begin(), e.hb.models.end());
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool worker_registry::serves(const std::string& model, clock::time_point now) const {
    auto name = normalize_model_name(model);
    llmp::lock_guard lock{mu_};
    for (const auto& [id, e] : workers_) {
        if (now - e.seen <= ttl_ && std::find(e.hb.models.begin(), e.hb.models.end(), name) != e.hb.models.end()) {
            return true;
        }
    }
    return false;
}

bool worker_registry::seen_within(const std::string& id, std::chrono::milliseconds within,
                                  clock::time_point now) const {
    llmp::lock_guard lock{mu_};
    auto it = workers_.find(id);
    return it != workers_.end() && now - it->second.seen <= within;
}

std::vector<worker_heartbeat> worker_registry::live(clock::time_point now) const {
    std::vector<worker_heartbeat> out;
    llmp::lock_guard lock{mu_};
    for (const auto& [id, e] : workers_) {
        if (now - e.seen <= ttl_) {
            out.push_back(e.hb);
        }
    }
    return out;
}

}  // namespace llmp::api
