#include "api/model_listing.hpp"

#include "common/messages.hpp"

#include <algorithm>
#include <map>

namespace llmp::api {

std::vector<listed_model> list_models(const worker_registry& workers, const model_aliases& aliases,
                                      worker_registry::clock::time_point now) {
    std::map<std::string, listed_model> served;  // by normalized model name
    for (const auto& w : workers.live(now)) {
        const int free = std::max(0, w.concurrency - w.in_flight);
        for (const auto& model : w.models) {  // normalized by the registry
            auto& m = served[model];
            m.name = model;
            m.target = model;
            m.workers.push_back(w.worker_id);
            m.free_slots += free;
        }
    }
    std::map<std::string, listed_model> out;
    for (auto& [name, m] : served) {
        std::sort(m.workers.begin(), m.workers.end());
        out.emplace(name, m);
    }
    for (const auto& a : aliases.list()) {
        auto it = served.find(a.target);
        if (it == served.end()) {
            continue;  // an alias of a model nobody serves is not offered
        }
        listed_model m = it->second;
        m.name = a.name;
        out.erase(normalize_model_name(a.name));
        out.insert_or_assign(a.name, std::move(m));
    }
    std::vector<listed_model> list;
    list.reserve(out.size());
    for (auto& [name, m] : out) {
        list.push_back(std::move(m));
    }
    return list;
}

}  // namespace llmp::api
