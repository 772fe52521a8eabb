#pragma once
// api_metrics: what the API server counts for Prometheus, beyond the per-route request
// counts and durations of metrics::http_metrics:
//   llmproxy_time_to_first_token_seconds{route}   request arrival -> first token relayed
//   llmproxy_streams_in_flight                     generations open now
//   llmproxy_tokens_relayed_total                  tokens sent to clients
//   llmproxy_generations_total{outcome}            how each generation request ended
//   llmproxy_publish_failures_total{reason}        requests the broker did not take
//   llmproxy_cancels_published_total               cancel messages sent to workers
//   llmproxy_chunk_messages_received_total         chunk messages from workers (tokens per broker
//   llmproxy_chunk_frames_received_total           message = tokens relayed / messages)
// and per served model (requests queued by this server only; the model is the routing key, never
// an alias, so the label's values are bounded by what workers announce):
//   llmproxy_model_waiting{model}                  queued here, no token yet (this server's share
//                                                  of the model queue's depth, plus prefill)
//   llmproxy_model_time_to_first_token_seconds{model}  publish -> first token: queue wait + prefill
//   llmproxy_model_generations_total{model}        queued requests that ended (throughput)
//   llmproxy_model_tokens_total{model}             tokens relayed (throughput)
// Embedding requests are not generations (no token, no TTFT: none of the above counts them); per
// served model, created when the model first embeds:
//   llmproxy_embeddings_total{model,outcome}       queued embedding requests that ended, by how
//   llmproxy_embedding_inputs_total{model}         texts embedded (completed requests)
//   llmproxy_embedding_tokens_total{model}         their input tokens as the upstream counted them
//
// Built by api_server with its registry; every child is created here, up front, so the relay's
// hooks are an atomic add each. Thread-safety: add_generation_route at start-up only; the rest
// from any thread.

#include "api/context.hpp"
#include "metrics/registry.hpp"

#include "common/mutex.hpp"

#include <array>
#include <memory>
#include <unordered_map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::api {

enum class publish_failure { queue_full, overloaded, broker_unavailable, timeout, count_ };

enum class relay_outcome {
    completed,           ///< the worker's final message was relayed
    rejected,            ///< never queued: no worker/model, overloaded, or the publish failed
    worker_error,        ///< the worker answered with an error
    worker_lost,         ///< the serving worker died or went silent mid-stream
    timeout,             ///< deadline or idle timeout
    client_gone,         ///< the client hung up
    client_too_slow,     ///< the client did not read fast enough
    broker_unavailable,  ///< the response queue was lost with the broker
    shutting_down,       ///< cut at the end of the drain
    background,          ///< queued in the background and answered at once (the generation goes on)
    count_
};

/// The outcome an error code ends a stream with (worker codes not listed -> worker_error).
relay_outcome outcome_of(std::string_view error_code);

/// One served model's metrics (children of the llmproxy_model_* families).
struct model_metrics {
    metrics::gauge& waiting;
    metrics::histogram& ttft;
    metrics::counter& generations;
    metrics::counter& tokens;
};

class api_metrics {
public:
    api_metrics(metrics::registry& reg, const counters& stats);

    /// Registers the TTFT histogram of a generation route (a POST route).
    void add_generation_route(std::string_view route);

    void publish_failed(publish_failure why) { publish_failures_[static_cast<std::size_t>(why)]->inc(); }
    void cancel_published() { cancels_.inc(); }
    /// A chunk message carrying `frames` streams' chunks arrived (consumer thread).
    void chunk_message_received(std::size_t frames) {
        chunk_messages_.inc();
        chunk_frames_.inc(frames);
    }
    /// Once per generation request. `route` is the request path; `ttft_s` < 0 = no token came.
    void relay_ended(std::string_view route, relay_outcome outcome, std::int64_t tokens, double ttft_s);

    /// The metrics of served model `model` (normalized), created on first use. One lookup under
    /// a mutex per queued request; the references stay valid as long as this object.
    model_metrics& model(const std::string& model);

    /// Once per embedding request queued for served model `model` (normalized), instead of
    /// relay_ended and the model's generation counts: `inputs` texts and `tokens` input tokens
    /// are counted when it completed. One lookup under a mutex.
    void embedding_ended(const std::string& model, relay_outcome outcome, std::int64_t inputs, std::int64_t tokens);

private:
    metrics::family<metrics::histogram>& ttft_family_;
    std::vector<std::pair<std::string, metrics::histogram*>> ttft_;  // read-only once serving
    metrics::counter& tokens_;
    metrics::counter& cancels_;
    metrics::counter& chunk_messages_;
    metrics::counter& chunk_frames_;
    std::array<metrics::counter*, static_cast<std::size_t>(relay_outcome::count_)> outcomes_{};
    std::array<metrics::counter*, static_cast<std::size_t>(publish_failure::count_)> publish_failures_{};
    metrics::family<metrics::gauge>& model_waiting_;
    metrics::family<metrics::histogram>& model_ttft_;
    metrics::family<metrics::counter>& model_generations_;
    metrics::family<metrics::counter>& model_tokens_;
    struct embedding_metrics {
        std::array<metrics::counter*, static_cast<std::size_t>(relay_outcome::count_)> ended{};
        metrics::counter* inputs = nullptr;
        metrics::counter* tokens = nullptr;
    };
    metrics::family<metrics::counter>& embeddings_;
    metrics::family<metrics::counter>& embedding_inputs_;
    metrics::family<metrics::counter>& embedding_tokens_;
    llmp::mutex models_mu_;
    std::unordered_map<std::string, std::unique_ptr<model_metrics>> models_ GUARDED_BY(models_mu_);
    std::unordered_map<std::string, embedding_metrics> embedding_models_ GUARDED_BY(models_mu_);
};

}  // namespace llmp::api
