#include "monitor/model_live_view.hpp"

#include <algorithm>
#include <map>

namespace llmp::monitor {
namespace {

using nlohmann::json;

json zero_percentiles() {
    return {{"p50", 0.0}, {"p95", 0.0}, {"p99", 0.0}};
}

/// A row of /api/models for a model without stored responses in the window.
json zero_row(const std::string& model) {
    return {{"model", model},
            {"requests", 0},
            {"errors", 0},
            {"cancelled", 0},
            {"completion_tokens", 0},
            {"prompt_tokens", 0},
            {"requests_per_s", 0.0},
            {"tokens_per_s", 0.0},
            {"error_rate", 0.0},
            {"ttft_ms", zero_percentiles()},
            {"latency_ms", zero_percentiles()},
            {"mean_generation_tokens_per_s", 0.0},
            {"wait_ms", nullptr}};
}

json queue_json(const std::optional<model_queue_state>& q) {
    if (!q) {
        return nullptr;
    }
    return {{"messages", q->messages}, {"ready", q->ready}, {"unacked", q->unacked}, {"consumers", q->consumers}};
}

}  // namespace

std::vector<model_live> model_live_view(const json& latest, const std::vector<live_worker>& workers,
                                        const broker::topology& t, const std::vector<std::string>& known_names) {
    std::map<std::string, model_live> by_model;
    auto entry = [&](const std::string& model) -> model_live& {
        auto& e = by_model[model];
        e.model = model;
        return e;
    };
    for (const auto& w : workers) {
        if (w.state != "live") {
            continue;
        }
        for (const auto& m : w.hb.models) {
            auto& e = entry(m);
            e.workers += 1;
            e.free_slots += std::max(0, w.hb.concurrency - w.hb.in_flight);
        }
    }
    if (!latest.value("available", false) || !latest.contains("queues")) {
        std::vector<model_live> out;
        for (auto& [name, e] : by_model) {
            out.push_back(std::move(e));
        }
        return out;
    }
    // Queue name -> model, over every name known here.
    std::map<std::string, std::string, std::less<>> queue_of;
    for (const auto& [name, e] : by_model) {
        queue_of.emplace(t.model_queue(name), name);
    }
    for (const auto& name : known_names) {
        if (!name.empty()) {
            queue_of.emplace(t.model_queue(name), name);
        }
    }
    const std::string prefix = t.work_exchange + ".";
    for (const auto& q : latest["queues"]) {
        if (!q.value("model_queue", false)) {
            continue;
        }
        auto name = q.value("name", std::string{});
        auto it = queue_of.find(name);
        std::string model;
        if (it != queue_of.end()) {
            model = it->second;
        } else if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) {
            model = name.substr(prefix.size());
        } else {
            continue;
        }
        model_queue_state s;
        s.messages = q.value("messages", std::int64_t{0});
        s.ready = q.value("ready", std::int64_t{0});
        s.unacked = q.value("unacked", std::int64_t{0});
        s.consumers = q.value("consumers", std::int64_t{0});
        entry(model).queue = s;
    }
    std::vector<model_live> out;
    for (auto& [name, e] : by_model) {
        out.push_back(std::move(e));
    }
    return out;
}

void merge_model_live(json& body, const std::vector<model_live>& view, bool queues_available) {
    if (!body.contains("models") || !body["models"].is_array()) {
        body["models"] = json::array();
    }
    auto& rows = body["models"];
    std::map<std::string, const model_live*> live;
    for (const auto& v : view) {
        live[v.model] = &v;
    }
    for (auto& row : rows) {
        auto it = live.find(row.value("model", std::string{}));
        const model_live* v = it == live.end() ? nullptr : it->second;
        row["workers"] = v ? v->workers : 0;
        row["free_slots"] = v ? v->free_slots : 0;
        row["queue"] = v ? queue_json(v->queue) : json(nullptr);
        if (!row.contains("wait_ms")) {
            row["wait_ms"] = nullptr;
        }
        if (v) {
            live.erase(it);
        }
    }
    if (body.contains("to_ms")) {
        live.clear();
    }
    for (const auto& [name, v] : live) {
        json row = zero_row(name);
        row["workers"] = v->workers;
        row["free_slots"] = v->free_slots;
        row["queue"] = queue_json(v->queue);
        rows.push_back(std::move(row));
    }
    body["queues_available"] = queues_available;
}

std::vector<std::string> model_names(const json& body) {
    std::vector<std::string> out;
    if (body.contains("models") && body["models"].is_array()) {
        for (const auto& row : body["models"]) {
            out.push_back(row.value("model", std::string{}));
        }
    }
    return out;
}

}  // namespace llmp::monitor
