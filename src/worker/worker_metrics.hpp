#pragma once
// worker_metrics: what a worker counts for Prometheus.
//   llmproxy_worker_generations_total{model,outcome}        completed | error (the provider or
//       upstream failed) | cancelled | abandoned (connection lost, redelivered elsewhere) |
//       rejected (not started: deadline passed, model not served, cancelled while queued)
//   llmproxy_worker_tokens_generated_total{model}
//   llmproxy_worker_time_to_first_token_seconds{model}      start of the provider call -> first token
//   llmproxy_worker_generation_duration_seconds{model}      start -> end of the generation
//   llmproxy_worker_generations_in_flight                   accepted and not yet acked
//   llmproxy_worker_requeued_total                          final not publishable: handed back
//   llmproxy_worker_redeliveries_counted_total              redelivered requests put back with their
//       delivery count (x-llmp-deliveries), see worker_service.cpp
//   llmproxy_worker_dead_lettered_total                     requests set aside after too many deliveries
//
// One model_metrics per model, created when the model is first seen (model list refresh or a
// request) and kept for the life of the process; a generation_task holds a pointer to its
// model's, so counting a token is one atomic add. Thread-safety: for_model() locks (once per
// generation); the counters and histograms are lock-free.

#include "common/mutex.hpp"
#include "metrics/registry.hpp"

#include <array>
#include <atomic>
#include <map>
#include <string>

namespace llmp::worker {

enum class generation_outcome { completed, error, cancelled, abandoned, rejected, count_ };

struct model_metrics {
    std::array<metrics::counter*, static_cast<std::size_t>(generation_outcome::count_)> outcomes{};
    metrics::counter* tokens = nullptr;
    metrics::histogram* ttft = nullptr;
    metrics::histogram* duration = nullptr;

    void ended(generation_outcome o) { outcomes[static_cast<std::size_t>(o)]->inc(); }
};

class worker_metrics {
public:
    worker_metrics(metrics::registry& reg, const std::atomic<int>& in_flight);

    /// The children of `model` (label "unserved" should be used for models this worker does
    /// not serve, so clients cannot grow the label set).
    model_metrics& for_model(const std::string& model);
    metrics::counter& requeued() { return requeued_; }
    metrics::counter& redeliveries_counted() { return redeliveries_counted_; }
    metrics::counter& dead_lettered() { return dead_lettered_; }

private:
    metrics::family<metrics::counter>& generations_;
    metrics::family<metrics::counter>& tokens_;
    metrics::family<metrics::histogram>& ttft_;
    metrics::family<metrics::histogram>& duration_;
    metrics::counter& requeued_;
    metrics::counter& redeliveries_counted_;
    metrics::counter& dead_lettered_;
    llmp::mutex mu_;
    std::map<std::string, model_metrics, std::less<>> models_ GUARDED_BY(mu_);  // node-based: stable
};

}  // namespace llmp::worker
