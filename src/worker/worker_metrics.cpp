#include "worker/worker_metrics.hpp"

namespace llmp::worker {
namespace {

constexpr std::array<const char*, static_cast<std::size_t>(generation_outcome::count_)> outcome_names{
    "completed", "error", "cancelled", "abandoned", "rejected"};

}  // namespace

worker_metrics::worker_metrics(metrics::registry& reg, const std::atomic<int>& in_flight)
    : generations_{reg.counters("llmproxy_worker_generations_total",
                                "Generations this worker ended, by model and outcome (error = the provider or "
                                "its upstream failed).",
                                {"model", "outcome"})},
      tokens_{reg.counters("llmproxy_worker_tokens_generated_total", "Tokens generated, by model.", {"model"})},
      ttft_{reg.histograms("llmproxy_worker_time_to_first_token_seconds",
                           "Time from the start of the provider call to its first token, by model.",
                           metrics::buckets::latency_short(), {"model"})},
      duration_{reg.histograms("llmproxy_worker_generation_duration_seconds",
                               "Time from the start of the provider call to the end of the generation, by model.",
                               metrics::buckets::latency_long(), {"model"})},
      requeued_{reg.counter_metric("llmproxy_worker_requeued_total",
                                   "Requests handed back to the queue because their final message could not be "
                                   "published.")},
      redeliveries_counted_{reg.counter_metric("llmproxy_worker_redeliveries_counted_total",
                                               "Redelivered requests put back on the work queue with their "
                                               "delivery count (x-llmp-deliveries).")},
      dead_lettered_{reg.counter_metric("llmproxy_worker_dead_lettered_total",
                                        "Requests dead-lettered after too many deliveries (each worker "
                                        "holding them stopped, e.g. crashed).")} {
    reg.callback("llmproxy_worker_generations_in_flight", "Generations accepted and not yet acked.",
                 metrics::metric_type::gauge)
        .add({}, [&in_flight] { return static_cast<double>(in_flight.load(std::memory_order_relaxed)); });
}

model_metrics& worker_metrics::for_model(const std::string& model) {
    llmp::lock_guard lock{mu_};
    if (auto it = models_.find(model); it != models_.end()) {
        return it->second;
    }
    model_metrics m;
    for (std::size_t i = 0; i < m.outcomes.size(); ++i) {
        m.outcomes[i] = &generations_.with({model, outcome_names[i]});
    }
    m.tokens = &tokens_.with({model});
    m.ttft = &ttft_.with({model});
    m.duration = &duration_.with({model});
    return models_.emplace(model, m).first->second;
}

}  // namespace llmp::worker
