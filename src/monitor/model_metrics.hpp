#pragma once
// model_metrics: the monitor's /metrics by model (issue 15, item 4), labelled model="<normalized
// name>" for exactly the models of model_live_view (a live worker announces it or its work queue
// exists), so the label set is bounded by the fleet's queues, never by what clients ask for:
//   llmproxy_monitor_model_workers, _free_slots          live heartbeats
//   llmproxy_monitor_model_queue_depth (ready), _queue_unacked, _queue_consumers
//                                                        its work queue (NaN without statistics)
//   llmproxy_monitor_model_requests_per_second, _tokens_per_second
//                                                        completed in the last `window_s` (stored rows)
//   llmproxy_monitor_model_queue_wait_seconds{percentile="50"|"95"}
//                                                        the wait of those that succeeded (NaN: none)
// The live gauges are set on every scrape; the stored figures are re-read at most every
// `refresh` (one query of the last minute), NaN while the database cannot be read. A model that
// leaves the view keeps its series (the registry never forgets a child), reading 0 / NaN.
//
// Threading: any thread; a mutex guards the model map (held to set gauges, never across a query).

#include "common/mutex.hpp"
#include "metrics/registry.hpp"
#include "monitor/model_live_view.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace llmp::monitor {

class model_metrics {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::int64_t window_s = 60;
    static constexpr std::chrono::seconds refresh{5};

    explicit model_metrics(metrics::registry& reg);

    /// The live gauges of every model in `view`; one seen before and gone now reads 0 / NaN.
    void set_live(const std::vector<model_live>& view);
    /// The stored figures from query_models' body over the last window_s; nullptr = the database
    /// could not be read (every stored figure NaN).
    void set_window(const nlohmann::json* body, clock::time_point now = clock::now());
    /// True when the stored figures are older than `refresh` (or were never read) and no read is
    /// under way: the caller then reads them and calls set_window().
    bool begin_window_read(clock::time_point now = clock::now());

private:
    struct slot {
        metrics::gauge* workers;
        metrics::gauge* free_slots;
        metrics::gauge* depth;
        metrics::gauge* unacked;
        metrics::gauge* consumers;
        metrics::gauge* requests_per_s;
        metrics::gauge* tokens_per_s;
        metrics::gauge* wait_p50;
        metrics::gauge* wait_p95;
    };
    slot& slot_for(const std::string& model) REQUIRES(mu_);

    metrics::family<metrics::gauge>& workers_;
    metrics::family<metrics::gauge>& free_slots_;
    metrics::family<metrics::gauge>& depth_;
    metrics::family<metrics::gauge>& unacked_;
    metrics::family<metrics::gauge>& consumers_;
    metrics::family<metrics::gauge>& requests_per_s_;
    metrics::family<metrics::gauge>& tokens_per_s_;
    metrics::family<metrics::gauge>& wait_;
    mutable llmp::mutex mu_;
    std::map<std::string, slot> slots_ GUARDED_BY(mu_);
    clock::time_point window_read_at_ GUARDED_BY(mu_){};
    bool window_read_ GUARDED_BY(mu_) = false;
    bool reading_ GUARDED_BY(mu_) = false;
};

}  // namespace llmp::monitor
