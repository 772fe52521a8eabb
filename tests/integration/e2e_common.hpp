#pragma once
// Shared bits of the end-to-end tests.

#include "providers/mock/mock_text.hpp"
#include "support/cluster.hpp"
#include "support/stream_client.hpp"
#include "support/sync_http.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace llmp::testing {

#define LLMP_REQUIRE_BROKER()                                                          \
    auto amqp_url_opt = ::llmp::testing::test_amqp_url();                              \
    if (!amqp_url_opt) {                                                               \
        GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";    \
    }                                                                                  \
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

inline nlohmann::json json_of(const std::string& s) { return nlohmann::json::parse(s, nullptr, false); }

}  // namespace llmp::testing
