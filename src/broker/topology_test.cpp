// The names of the per-model work side (topology::model_key, model_queue): pure, no broker.

#include "broker/topology.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp::broker {
namespace {

TEST(topology, a_model_is_keyed_by_its_normalized_name) {
    topology t{"llm"};
    EXPECT_EQ(t.model_key("mock:latest"), "mock:latest");
    EXPECT_EQ(t.model_key("hf.co/org/Qwen2.5-0.5B:Q4_K_M"), "hf.co/org/Qwen2.5-0.5B:Q4_K_M");
    EXPECT_EQ(t.model_queue("llama3.2:latest"), "llm.work.llama3.2:latest");
    EXPECT_EQ(t.work_exchange, "llm.work");
    EXPECT_EQ(t.work_queue, "llm.requests.work") << "the queue of earlier versions keeps its name";
}

TEST(topology, a_name_too_long_for_amqp_is_shortened_with_a_hash) {
    topology t{"llm"};
    const std::string fits(255 - std::string{"llm.work."}.size(), 'a');
    EXPECT_EQ(t.model_queue(fits).size(), 255u);
    EXPECT_EQ(t.model_key(fits), fits) << "exactly at the limit: kept";

    const std::string a = fits + "a:latest";
    const std::string b = fits + "b:latest";
    EXPECT_LE(t.model_queue(a).size(), 255u);
    EXPECT_LE(t.model_key(a).size(), 255u);
    EXPECT_NE(t.model_key(a), t.model_key(b)) << "names sharing the kept part stay apart";
    EXPECT_EQ(t.model_key(a), t.model_key(a)) << "deterministic";
    EXPECT_EQ(topology{"llm"}.model_key(a), t.model_key(a)) << "the same in every process";
    EXPECT_EQ(t.model_key(a).substr(0, 100), a.substr(0, 100));
}

TEST(topology, shortening_never_cuts_a_utf8_sequence) {
    topology t{"llm"};
    std::string name;
    while (name.size() < 400) {
        name += "\xC3\xA9";  // é, two bytes
    }
    auto key = t.model_key(name);
    auto tilde = key.find('~');
    ASSERT_NE(tilde, std::string::npos);
    EXPECT_EQ(tilde % 2, 0u) << "whole characters only";
    EXPECT_LE(t.model_queue(name).size(), 255u);
}

}  // namespace
}  // namespace llmp::broker
