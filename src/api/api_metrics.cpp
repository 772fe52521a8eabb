#include "api/api_metrics.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

constexpr std::array<const char*, static_cast<std::size_t>(relay_outcome::count_)> outcome_names{
    "completed",   "rejected",        "worker_error",       "worker_lost",   "timeout",
    "client_gone", "client_too_slow", "broker_unavailable", "shutting_down", "background"};

constexpr std::array<const char*, static_cast<std::size_t>(publish_failure::count_)> publish_failure_names{
    "queue_full", "overloaded", "broker_unavailable", "timeout"};

}  // namespace

relay_outcome outcome_of(std::string_view code) {
    for (auto o : {relay_outcome::worker_lost, relay_outcome::timeout, relay_outcome::client_too_slow,
                   relay_outcome::broker_unavailable, relay_outcome::shutting_down}) {
        if (code == outcome_names[static_cast<std::size_t>(o)]) {
            return o;
        }
    }
    return relay_outcome::worker_error;
}

api_metrics::api_metrics(metrics::registry& reg, const counters& stats)
    : ttft_family_{reg.histograms("llmproxy_time_to_first_token_seconds",
                                  "Time from a generation request's arrival to its first token sent to the client, "
                                  "by route.",
                                  metrics::buckets::latency_short(), {"route"})},
      tokens_{reg.counter_metric("llmproxy_tokens_relayed_total", "Tokens streamed or returned to clients.")},
      cancels_{reg.counter_metric("llmproxy_cancels_published_total",
                                  "Cancel messages sent to workers (client gone, deadline, worker lost).")},
      chunk_messages_{reg.counter_metric("llmproxy_chunk_messages_received_total",
                                         "Chunk messages received from workers (one carries the chunks of one or "
                                         "more streams).")},
      chunk_frames_{reg.counter_metric("llmproxy_chunk_frames_received_total",
                                       "Stream chunks received from workers (frames of the chunk messages).")},
      model_waiting_{reg.gauges("llmproxy_model_waiting",
                                "Requests this server queued for a model that have no token yet (queued or in "
                                "prefill), by served model.",
                                {"model"})},
      model_ttft_{reg.histograms("llmproxy_model_time_to_first_token_seconds",
                                 "Time from a request's publish to its first token (queue wait + prefill), by "
                                 "served model.",
                                 metrics::buckets::latency_short(), {"model"})},
      model_generations_{reg.counters("llmproxy_model_generations_total",
                                      "Requests this server queued that ended, however, by served model.", {"model"})},
      model_tokens_{
          reg.counters("llmproxy_model_tokens_total", "Tokens relayed to clients, by served model.", {"model"})},
      embeddings_{reg.counters("llmproxy_embeddings_total",
                               "Embedding requests this server queued that ended, by served model and how.",
                               {"model", "outcome"})},
      embedding_inputs_{reg.counters("llmproxy_embedding_inputs_total",
                                     "Texts embedded (completed embedding requests), by served model.", {"model"})},
      embedding_tokens_{reg.counters("llmproxy_embedding_tokens_total",
                                     "Input tokens of completed embedding requests as the upstream counted them, by "
                                     "served model.",
                                     {"model"})} {
    reg.callback("llmproxy_streams_in_flight", "Generation requests open on this API server.",
                 metrics::metric_type::gauge)
        .add({}, [&stats] { return static_cast<double>(stats.streams_open.load(std::memory_order_relaxed)); });
    auto& outcomes = reg.counters("llmproxy_generations_total", "Generation requests by how they ended.", {"outcome"});
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        outcomes_[i] = &outcomes.with({outcome_names[i]});
    }
    auto& failures = reg.counters("llmproxy_publish_failures_total",
                                  "Requests the message broker did not take: queue_full (the work queue refused it), "
                                  "overloaded (the local publish queue was full), broker_unavailable, timeout (no "
                                  "confirm in time).",
                                  {"reason"});
    for (std::size_t i = 0; i < publish_failures_.size(); ++i) {
        publish_failures_[i] = &failures.with({publish_failure_names[i]});
    }
}

void api_metrics::add_generation_route(std::string_view route) {
    for (const auto& [r, h] : ttft_) {
        if (r == route) {
            return;
        }
    }
    ttft_.emplace_back(std::string{route}, &ttft_family_.with({std::string{route}}));
}

void api_metrics::relay_ended(std::string_view route, relay_outcome outcome, std::int64_t tokens, double ttft_s) {
    outcomes_[static_cast<std::size_t>(outcome)]->inc();
    if (tokens > 0) {
        tokens_.inc(static_cast<std::uint64_t>(tokens));
    }
    if (ttft_s < 0) {
        return;
    }
    route = route.substr(0, route.find('?'));
    // A few generation routes: a scan of a small read-only vector, no lock.
    for (const auto& [r, h] : ttft_) {
        if (r == route) {
            h->observe(ttft_s);
            return;
        }
    }
}

model_metrics& api_metrics::model(const std::string& model) {
    llmp::lock_guard lock{models_mu_};
    auto& slot = models_[model];
    if (!slot) {
        slot = std::make_unique<model_metrics>(model_metrics{model_waiting_.with({model}), model_ttft_.with({model}),
                                                             model_generations_.with({model}),
                                                             model_tokens_.with({model})});
    }
    return *slot;
}

void api_metrics::embedding_ended(const std::string& model, relay_outcome outcome, std::int64_t inputs,
                                  std::int64_t tokens) {
    llmp::lock_guard lock{models_mu_};
    auto [it, added] = embedding_models_.try_emplace(model);
    auto& m = it->second;
    if (added) {
        for (std::size_t i = 0; i < m.ended.size(); ++i) {
            m.ended[i] = &embeddings_.with({model, outcome_names[i]});
        }
        m.inputs = &embedding_inputs_.with({model});
        m.tokens = &embedding_tokens_.with({model});
    }
    m.ended[static_cast<std::size_t>(outcome)]->inc();
    if (outcome == relay_outcome::completed) {
        m.inputs->inc(static_cast<std::uint64_t>(std::max<std::int64_t>(inputs, 0)));
        m.tokens->inc(static_cast<std::uint64_t>(std::max<std::int64_t>(tokens, 0)));
    }
}

}  // namespace llmp::api
