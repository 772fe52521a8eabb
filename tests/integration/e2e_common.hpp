#pragma once
// Shared bits of the end-to-end tests.

#include "providers/mock/mock_text.hpp"
#include "support/cluster.hpp"
#include "support/stream_client.hpp"
#include "support/sync_http.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace llmp::testing {

#define LLMP_REQUIRE_BROKER()                                                       \
    auto amqp_url_opt = ::llmp::testing::test_amqp_url();                           \
    if (!amqp_url_opt) {                                                            \
        GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)"; \
    }                                                                               \
    const std::string amqp_url = *amqp_url_opt

inline std::string chat_body(const std::string& model, const std::string& prompt, int n, bool stream = true) {
    nlohmann::json j{{"model", model},
                     {"messages", nlohmann::json::array({{{"role", "user"}, {"content", prompt}}})},
                     {"options", {{"num_predict", n}}},
                     {"stream", stream}};
    return j.dump();
}

inline std::string generate_body(const std::string& model, const std::string& prompt, int n, bool stream = true) {
    nlohmann::json j{{"model", model}, {"prompt", prompt}, {"options", {{"num_predict", n}}}, {"stream", stream}};
    return j.dump();
}

/// Polls `pred` until it holds or `timeout` passes (every wait in a test has a deadline).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return pred();
}

inline nlohmann::json json_of(const std::string& s) {
    return nlohmann::json::parse(s, nullptr, false);
}

/// The id of a worker with a request in flight, per the API's view of the heartbeats.
inline std::optional<std::string> busy_worker(unsigned api_port, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto j = json_of(http_get(api_port, "/api/workers").body);
        if (j.is_object()) {
            for (const auto& w : j["workers"]) {
                if (w.value("in_flight", 0) > 0) {
                    return w.value("worker_id", "");
                }
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return std::nullopt;
}

/// Whether the API lists worker `id` (from its heartbeats) within `timeout`.
inline bool worker_listed(unsigned api_port, const std::string& id, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto j = json_of(http_get(api_port, "/api/workers").body);
        if (j.is_object()) {
            for (const auto& w : j["workers"]) {
                if (w.value("worker_id", "") == id) {
                    return true;
                }
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return false;
}

/// The sum of the samples of `name` on `port`'s /metrics whose labels contain `label`.
inline double metric_sum(unsigned port, const std::string& name, const std::string& label = {}) {
    auto r = http_get(port, "/metrics");
    std::istringstream in{r.body};
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
        if (!line.starts_with(name) ||
            (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ')) {
            continue;
        }
        if (!label.empty() && line.find(label) == std::string::npos) {
            continue;
        }
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
}

/// A mock generation of `n` tokens, `delay_ms` apart.
inline std::string slow_mock_body(const std::string& prompt, int n, double delay_ms, bool stream = true) {
    nlohmann::json j{{"model", "mock"},
                     {"prompt", prompt},
                     {"stream", stream},
                     {"options", {{"num_predict", n}, {"mock_token_delay_ms", delay_ms}}}};
    return j.dump();
}

}  // namespace llmp::testing
