// Unit tests of the per-model view (model_live_view) and its /metrics gauges (model_metrics):
// queues matched to their models, workers and free slots by model, the rows /api/models adds,
// and the label set bounded by the fleet.

#include "metrics/registry.hpp"
#include "monitor/model_live_view.hpp"
#include "monitor/model_metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp::monitor {
namespace {

using nlohmann::json;

live_worker worker(const std::string& id, std::vector<std::string> models, int concurrency, int in_flight,
                   std::string state = "live") {
    live_worker w;
    w.hb.worker_id = id;
    w.hb.models = std::move(models);
    w.hb.concurrency = concurrency;
    w.hb.in_flight = in_flight;
    w.state = std::move(state);
    return w;
}

json queue(const std::string& name, std::int64_t ready, std::int64_t unacked, std::int64_t consumers) {
    return {{"name", name},       {"exists", true},         {"messages", ready + unacked}, {"ready", ready},
            {"unacked", unacked}, {"consumers", consumers}, {"model_queue", true}};
}

const broker::topology topo{"llmp"};

json sampled(std::vector<json> model_queues) {
    json queues = json::array({{{"name", "llmp.requests.work"}, {"messages", 3}, {"ready", 3}}});
    for (auto& q : model_queues) {
        queues.push_back(std::move(q));
    }
    return {{"available", true}, {"queues", std::move(queues)}};
}

TEST(model_live_view, one_entry_a_model_with_its_workers_free_slots_and_queue) {
    auto latest = sampled({queue(topo.model_queue("alpha:latest"), 4, 1, 1),
                           queue(topo.model_queue("beta:latest"), 0, 2, 2), queue("llmp.work.gone:latest", 7, 0, 0)});
    std::vector<live_worker> workers{worker("w1", {"alpha:latest", "beta:latest"}, 4, 3),
                                     worker("w2", {"beta:latest"}, 2, 5),  // over its concurrency: 0 free
                                     worker("w3", {"beta:latest"}, 8, 0, "stale")};
    auto view = model_live_view(latest, workers, topo);
    ASSERT_EQ(view.size(), 3u);
    EXPECT_EQ(view[0].model, "alpha:latest");
    EXPECT_EQ(view[0].workers, 1);
    EXPECT_EQ(view[0].free_slots, 1);
    ASSERT_TRUE(view[0].queue);
    EXPECT_EQ(view[0].queue->ready, 4);
    EXPECT_EQ(view[0].queue->unacked, 1);
    EXPECT_EQ(view[0].queue->messages, 5);
    EXPECT_EQ(view[0].queue->consumers, 1);
    EXPECT_EQ(view[1].model, "beta:latest");
    EXPECT_EQ(view[1].workers, 2) << "a stale worker is not counted";
    EXPECT_EQ(view[1].free_slots, 1);
    EXPECT_EQ(view[1].queue->ready, 0);
    EXPECT_EQ(view[2].model, "gone:latest") << "a queue without workers, under its routing key";
    EXPECT_EQ(view[2].workers, 0);
    EXPECT_EQ(view[2].queue->ready, 7);
}

TEST(model_live_view, a_long_name_is_matched_to_its_shortened_queue_by_the_known_names) {
    std::string long_name(300, 'm');
    long_name += ":latest";
    auto latest = sampled({queue(topo.model_queue(long_name), 2, 0, 0)});
    auto unmatched = model_live_view(latest, {}, topo);
    ASSERT_EQ(unmatched.size(), 1u);
    EXPECT_NE(unmatched[0].model, long_name);
    auto matched = model_live_view(latest, {}, topo, {long_name});
    ASSERT_EQ(matched.size(), 1u);
    EXPECT_EQ(matched[0].model, long_name);
    EXPECT_EQ(matched[0].queue->ready, 2);
}

TEST(model_live_view, without_queue_statistics_only_the_workers_are_known) {
    json latest{{"available", false}, {"error", "down"}, {"queues", json::array()}};
    auto view = model_live_view(latest, {worker("w1", {"alpha:latest"}, 2, 0)}, topo);
    ASSERT_EQ(view.size(), 1u);
    EXPECT_EQ(view[0].workers, 1);
    EXPECT_FALSE(view[0].queue);
}

TEST(model_live_view, merge_adds_the_live_fields_and_the_models_without_rows) {
    json body{{"window_s", 300},
              {"models",
               {{{"model", "alpha:latest"}, {"requests", 5}, {"wait_ms", {{"p50", 1.0}, {"p95", 2.0}}}},
                {{"model", "old:latest"}, {"requests", 1}, {"wait_ms", nullptr}}}}};
    auto view = model_live_view(
        sampled({queue(topo.model_queue("alpha:latest"), 3, 1, 1), queue(topo.model_queue("beta:latest"), 6, 0, 0)}),
        {worker("w1", {"alpha:latest"}, 2, 1)}, topo, model_names(body));
    merge_model_live(body, view, true);
    const auto& rows = body["models"];
    ASSERT_EQ(rows.size(), 3u) << body.dump();
    EXPECT_EQ(body["queues_available"], true);
    EXPECT_EQ(rows[0]["workers"], 1);
    EXPECT_EQ(rows[0]["free_slots"], 1);
    EXPECT_EQ(rows[0]["queue"]["ready"], 3);
    EXPECT_EQ(rows[0]["wait_ms"]["p95"], 2.0);
    EXPECT_EQ(rows[1]["model"], "old:latest");
    EXPECT_EQ(rows[1]["workers"], 0);
    EXPECT_TRUE(rows[1]["queue"].is_null()) << "no queue seen for it";
    EXPECT_EQ(rows[2]["model"], "beta:latest") << "a queue with no traffic in the window is listed";
    EXPECT_EQ(rows[2]["requests"], 0);
    EXPECT_EQ(rows[2]["queue"]["ready"], 6);
    EXPECT_TRUE(rows[2]["wait_ms"].is_null());
    EXPECT_TRUE(rows[2]["ttft_ms"].is_object());

    json past{{"window_s", 3600}, {"to_ms", 1}, {"models", json::array()}};
    merge_model_live(past, view, true);
    EXPECT_TRUE(past["models"].empty()) << "a range in the past lists what was stored in it only";
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find(line + "\n") != std::string::npos;
}

TEST(model_metrics, labels_only_the_models_of_the_view_and_reads_unknown_as_nan) {
    metrics::registry reg;
    model_metrics gauges{reg};
    EXPECT_TRUE(gauges.begin_window_read());
    EXPECT_FALSE(gauges.begin_window_read()) << "one read at a time";
    auto view = model_live_view(sampled({queue(topo.model_queue("alpha:latest"), 4, 1, 2)}),
                                {worker("w1", {"alpha:latest", "beta:latest"}, 3, 1)}, topo);
    gauges.set_live(view);
    json body{{"models",
               {{{"model", "alpha:latest"},
                 {"requests_per_s", 0.5},
                 {"tokens_per_s", 8.0},
                 {"wait_ms", {{"p50", 250.0}, {"p95", 1500.0}}}},
                {{"model", "client-typo:latest"}, {"requests_per_s", 1.0}, {"tokens_per_s", 1.0}}}}};
    auto t0 = model_metrics::clock::now();
    gauges.set_window(&body, t0);
    auto text = reg.render();
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_workers{model="alpha:latest"} 1)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_free_slots{model="beta:latest"} 2)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_queue_depth{model="alpha:latest"} 4)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_queue_unacked{model="alpha:latest"} 1)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_queue_consumers{model="alpha:latest"} 2)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_queue_depth{model="beta:latest"} NaN)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_requests_per_second{model="alpha:latest"} 0.5)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_tokens_per_second{model="alpha:latest"} 8)")) << text;
    EXPECT_TRUE(
        has_line(text, R"(llmproxy_monitor_model_queue_wait_seconds{model="alpha:latest",percentile="95"} 1.5)"))
        << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_requests_per_second{model="beta:latest"} 0)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_queue_wait_seconds{model="beta:latest",percentile="50"} NaN)"))
        << text;
    EXPECT_EQ(text.find("client-typo"), std::string::npos) << "no series for a model without queue or worker";
    EXPECT_FALSE(gauges.begin_window_read(t0 + std::chrono::seconds{1}));
    EXPECT_TRUE(gauges.begin_window_read(t0 + model_metrics::refresh));

    // The database cannot be read: the stored figures are unknown; the worker left: 0 workers.
    gauges.set_window(nullptr, t0);
    gauges.set_live({});
    text = reg.render();
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_requests_per_second{model="alpha:latest"} NaN)")) << text;
    EXPECT_TRUE(has_line(text, R"(llmproxy_monitor_model_workers{model="alpha:latest"} 0)")) << text;
    EXPECT_TRUE(gauges.begin_window_read(t0)) << "a failed read is retried at the next scrape";
}

}  // namespace
}  // namespace llmp::monitor
