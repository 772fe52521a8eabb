#include "metrics/registry.hpp"

#include "metrics/exporter.hpp"
#include "metrics/text_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace llmp::metrics {
namespace {

TEST(metrics_text, escapes_label_values_and_help) {
    std::string out;
    text::append_label_value(out, "a\\b\"c\nd");
    EXPECT_EQ(out, R"("a\\b\"c\nd")");
    out.clear();
    text::append_help(out, "line\\one\nline \"two\"");
    EXPECT_EQ(out, R"(line\\one\nline "two")");  // quotes are not escaped in HELP
}

TEST(metrics_text, formats_values) {
    auto fmt = [](double v) {
        std::string s;
        text::append_value(s, v);
        return s;
    };
    EXPECT_EQ(fmt(0), "0");
    EXPECT_EQ(fmt(0.005), "0.005");
    EXPECT_EQ(fmt(2.5), "2.5");
    EXPECT_EQ(fmt(1e21), "1e+21");
    EXPECT_EQ(fmt(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(fmt(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(fmt(std::nan("")), "NaN");
    std::string s;
    text::append_value(s, std::uint64_t{18446744073709551615ULL});
    EXPECT_EQ(s, "18446744073709551615");
}

TEST(metrics_text, validates_names) {
    EXPECT_TRUE(text::valid_metric_name("llmproxy_http_requests_total"));
    EXPECT_TRUE(text::valid_metric_name("a:b_c9"));
    EXPECT_FALSE(text::valid_metric_name("9abc"));
    EXPECT_FALSE(text::valid_metric_name("a-b"));
    EXPECT_FALSE(text::valid_metric_name(""));
    EXPECT_TRUE(text::valid_label_name("route"));
    EXPECT_FALSE(text::valid_label_name("__name"));
    EXPECT_FALSE(text::valid_label_name("a:b"));
}

TEST(metrics_registry, renders_counters_and_gauges_with_labels) {
    registry r;
    auto& requests = r.counters("llmproxy_http_requests_total", "HTTP requests.", {"route", "status"});
    requests.with({"/api/chat", "200"}).inc(3);
    requests.with({"/api/chat", "503"}).inc();
    r.gauge_metric("llmproxy_streams_in_flight", "Open streams.").set(2);
    EXPECT_EQ(r.render(),
              "# HELP llmproxy_http_requests_total HTTP requests.\n"
              "# TYPE llmproxy_http_requests_total counter\n"
              "llmproxy_http_requests_total{route=\"/api/chat\",status=\"200\"} 3\n"
              "llmproxy_http_requests_total{route=\"/api/chat\",status=\"503\"} 1\n"
              "# HELP llmproxy_streams_in_flight Open streams.\n"
              "# TYPE llmproxy_streams_in_flight gauge\n"
              "llmproxy_streams_in_flight 2\n");
}

TEST(metrics_registry, same_child_for_same_labels_and_same_family_for_same_name) {
    registry r;
    auto& f = r.counters("x_total", "x", {"a"});
    auto& c1 = f.with({"1"});
    auto& c2 = f.with({"1"});
    EXPECT_EQ(&c1, &c2);
    EXPECT_EQ(&f, &r.counters("x_total", "x", {"a"}));
    EXPECT_THROW(r.gauges("x_total", "x", {"a"}), std::logic_error);
    EXPECT_THROW(r.counters("x_total", "x", {"b"}), std::logic_error);
    EXPECT_THROW(f.with({"1", "2"}), std::logic_error);
    EXPECT_THROW(r.counters("bad-name", "x"), std::logic_error);
    EXPECT_THROW(r.histograms("h_seconds", "h", {1, 2}, {"le"}), std::logic_error);
    EXPECT_THROW(r.histograms("h_seconds", "h", {2, 1}), std::logic_error);
}

TEST(metrics_registry, families_without_children_are_not_rendered) {
    registry r;
    r.counters("unused_total", "never used", {"a"});
    EXPECT_EQ(r.render(), "");
}

TEST(metrics_histogram, buckets_are_cumulative_with_inf_sum_and_count) {
    registry r;
    auto& h = r.histograms("llmproxy_ttft_seconds", "TTFT.", {0.1, 0.5, 1}, {"route"}).with({"/api/chat"});
    h.observe(0.05);
    h.observe(0.1);  // le is inclusive
    h.observe(0.3);
    h.observe(7);
    EXPECT_EQ(r.render(),
              "# HELP llmproxy_ttft_seconds TTFT.\n"
              "# TYPE llmproxy_ttft_seconds histogram\n"
              "llmproxy_ttft_seconds_bucket{route=\"/api/chat\",le=\"0.1\"} 2\n"
              "llmproxy_ttft_seconds_bucket{route=\"/api/chat\",le=\"0.5\"} 3\n"
              "llmproxy_ttft_seconds_bucket{route=\"/api/chat\",le=\"1\"} 3\n"
              "llmproxy_ttft_seconds_bucket{route=\"/api/chat\",le=\"+Inf\"} 4\n"
              "llmproxy_ttft_seconds_sum{route=\"/api/chat\"} 7.45\n"
              "llmproxy_ttft_seconds_count{route=\"/api/chat\"} 4\n");
}

TEST(metrics_histogram, without_labels) {
    registry r;
    r.histograms("b", "b", {1}).get().observe(1);
    EXPECT_EQ(r.render(),
              "# HELP b b\n# TYPE b histogram\nb_bucket{le=\"1\"} 1\nb_bucket{le=\"+Inf\"} 1\nb_sum 1\nb_count 1\n");
}

TEST(metrics_registry, callbacks_are_read_at_render_time) {
    registry r;
    double v = 1;
    r.callback("cb", "callback gauge", metric_type::gauge, {"k"}).add({"x"}, [&v] { return v; });
    EXPECT_NE(r.render().find("cb{k=\"x\"} 1\n"), std::string::npos);
    v = 2.5;
    EXPECT_NE(r.render().find("cb{k=\"x\"} 2.5\n"), std::string::npos);
}

TEST(metrics_registry, concurrent_increments_are_all_counted) {
    registry r;
    auto& c = r.counter_metric("n_total", "n");
    auto& g = r.gauge_metric("g", "g");
    auto& h = r.histograms("h", "h", {1}).get();
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                c.inc();
                g.inc();
                h.observe(0.5);
            }
        });
    }
    std::thread reader{[&] {
        for (int i = 0; i < 50; ++i) {
            (void)r.render();
        }
    }};
    for (auto& t : ts) {
        t.join();
    }
    reader.join();
    EXPECT_EQ(c.value(), 40000u);
    EXPECT_EQ(g.value(), 40000);
    auto s = h.snap();
    EXPECT_EQ(s.count, 40000u);
    EXPECT_DOUBLE_EQ(s.sum, 20000);
}

TEST(metrics_registry, build_info) {
    registry r;
    add_build_info(r);
    auto out = r.render();
    EXPECT_NE(out.find("# TYPE llmproxy_build_info gauge\nllmproxy_build_info{version=\""), std::string::npos) << out;
}

TEST(exporter_config, listens_on_loopback_unless_told_otherwise) {
    EXPECT_EQ(exporter_config{}.listen_address, "127.0.0.1");
}

}  // namespace
}  // namespace llmp::metrics
