#include "monitor/model_metrics.hpp"

#include <limits>
#include <set>

namespace llmp::monitor {
namespace {

constexpr double unknown = std::numeric_limits<double>::quiet_NaN();

double number_or_nan(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : unknown;
}

}  // namespace

model_metrics::model_metrics(metrics::registry& reg)
    : workers_{reg.gauges("llmproxy_monitor_model_workers", "Live workers (heartbeats) that serve the model.",
                          {"model"})},
      free_slots_{reg.gauges("llmproxy_monitor_model_free_slots",
                             "Free generation slots (concurrency - in flight) of the live workers that serve the "
                             "model.",
                             {"model"})},
      depth_{reg.gauges("llmproxy_monitor_model_queue_depth",
                        "Requests waiting in the model's work queue for a worker (ready messages; NaN without "
                        "queue statistics).",
                        {"model"})},
      unacked_{reg.gauges("llmproxy_monitor_model_queue_unacked",
                          "Requests of the model's work queue delivered to a worker and not finished.", {"model"})},
      consumers_{
          reg.gauges("llmproxy_monitor_model_queue_consumers", "Consumers of the model's work queue.", {"model"})},
      requests_per_s_{reg.gauges("llmproxy_monitor_model_requests_per_second",
                                 "Requests of the model completed per second over the last minute (audit rows).",
                                 {"model"})},
      tokens_per_s_{reg.gauges("llmproxy_monitor_model_tokens_per_second",
                               "Completion tokens of the model per second over the last minute (audit rows).",
                               {"model"})},
      wait_{reg.gauges("llmproxy_monitor_model_queue_wait_seconds",
                       "Queue wait (API receipt to worker start) of the model's successful requests completed in "
                       "the last minute, by percentile (50, 95; NaN: none; not a summary, hence not \"quantile\").",
                       {"model", "percentile"})} {}

model_metrics::slot& model_metrics::slot_for(const std::string& model) {
    auto it = slots_.find(model);
    if (it != slots_.end()) {
        return it->second;
    }
    slot s{&workers_.with({model}),      &free_slots_.with({model}), &depth_.with({model}),
           &unacked_.with({model}),      &consumers_.with({model}),  &requests_per_s_.with({model}),
           &tokens_per_s_.with({model}), &wait_.with({model, "50"}), &wait_.with({model, "95"})};
    // Stored figures are unknown until the next read of the window.
    s.requests_per_s->set(unknown);
    s.tokens_per_s->set(unknown);
    s.wait_p50->set(unknown);
    s.wait_p95->set(unknown);
    window_read_ = false;
    return slots_.emplace(model, s).first->second;
}

void model_metrics::set_live(const std::vector<model_live>& view) {
    llmp::lock_guard lock{mu_};
    std::set<std::string> seen;
    for (const auto& v : view) {
        auto& s = slot_for(v.model);
        s.workers->set(static_cast<double>(v.workers));
        s.free_slots->set(static_cast<double>(v.free_slots));
        s.depth->set(v.queue ? static_cast<double>(v.queue->ready) : unknown);
        s.unacked->set(v.queue ? static_cast<double>(v.queue->unacked) : unknown);
        s.consumers->set(v.queue ? static_cast<double>(v.queue->consumers) : unknown);
        seen.insert(v.model);
    }
    for (auto& [model, s] : slots_) {
        if (seen.count(model) == 0) {
            s.workers->set(0);
            s.free_slots->set(0);
            s.depth->set(unknown);
            s.unacked->set(unknown);
            s.consumers->set(unknown);
        }
    }
}

void model_metrics::set_window(const nlohmann::json* body, clock::time_point now) {
    std::map<std::string, const nlohmann::json*> rows;
    if (body != nullptr && body->contains("models") && (*body)["models"].is_array()) {
        for (const auto& row : (*body)["models"]) {
            rows[row.value("model", std::string{})] = &row;
        }
    }
    llmp::lock_guard lock{mu_};
    for (auto& [model, s] : slots_) {
        auto it = rows.find(model);
        if (body == nullptr) {
            s.requests_per_s->set(unknown);
            s.tokens_per_s->set(unknown);
            s.wait_p50->set(unknown);
            s.wait_p95->set(unknown);
        } else if (it == rows.end()) {
            s.requests_per_s->set(0);
            s.tokens_per_s->set(0);
            s.wait_p50->set(unknown);
            s.wait_p95->set(unknown);
        } else {
            const auto& row = *it->second;
            s.requests_per_s->set(number_or_nan(row, "requests_per_s"));
            s.tokens_per_s->set(number_or_nan(row, "tokens_per_s"));
            const auto wait = row.find("wait_ms");
            bool has_wait = wait != row.end() && wait->is_object();
            s.wait_p50->set(has_wait ? number_or_nan(*wait, "p50") / 1000.0 : unknown);
            s.wait_p95->set(has_wait ? number_or_nan(*wait, "p95") / 1000.0 : unknown);
        }
    }
    window_read_at_ = now;
    window_read_ = body != nullptr;
    reading_ = false;
}

bool model_metrics::begin_window_read(clock::time_point now) {
    llmp::lock_guard lock{mu_};
    if (reading_ || (window_read_ && now - window_read_at_ < refresh)) {
        return false;
    }
    reading_ = true;
    return true;
}

}  // namespace llmp::monitor
