#pragma once
// model_subscriptions: which model work queues (broker/topology.hpp) this worker consumes, by
// consumer tag, and what to start and stop so that it consumes exactly the models its provider
// serves. Pure bookkeeping: worker_service carries out the plan (declare + consume, cancel) on
// its consumer connection and records the outcome here.
//
// Threading: none of its own. worker_service keeps one on its consumer thread only.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::worker {

class model_subscriptions {
public:
    struct plan {
        std::vector<std::string> start;  ///< served, not consumed yet (sorted)
        std::vector<std::string> stop;   ///< consumed, no longer served (sorted)
        bool empty() const { return start.empty() && stop.empty(); }
    };

    /// What to start and stop so that exactly `served` (normalized names, any order, duplicates
    /// allowed) is consumed.
    plan plan_for(const std::vector<std::string>& served) const;

    void started(const std::string& model, std::string tag);
    void stopped(const std::string& model);
    /// The connection (and with it every consumer) is gone.
    void clear() { tags_.clear(); }

    /// The model whose queue the consumer `tag` reads; null when no current consumer has that tag
    /// (it was cancelled, or the delivery came from another queue).
    const std::string* model_of(std::string_view tag) const;
    /// The consumer tag of `model`'s queue; null when it is not consumed.
    const std::string* tag_of(std::string_view model) const;
    /// The models consumed now, sorted.
    std::vector<std::string> models() const;

private:
    std::map<std::string, std::string, std::less<>> tags_;  ///< model -> consumer tag
};

}  // namespace llmp::worker
