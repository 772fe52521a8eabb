#include "api/worker_registry.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

using namespace std::chrono_literals;

worker_heartbeat beat(std::string id, std::vector<std::string> models) {
    worker_heartbeat hb;
    hb.worker_id = std::move(id);
    hb.models = std::move(models);
    return hb;
}

TEST(worker_registry, models_of_live_workers_only) {
    worker_registry reg{6s};
    auto t0 = worker_registry::clock::time_point{} + 100s;
    reg.update(beat("w1", {"llama3", "qwen:0.5b"}), t0);
    reg.update(beat("w2", {"llama3:latest", "mock"}), t0 + 4s);
    EXPECT_EQ(reg.models(t0 + 5s), (std::vector<std::string>{"llama3:latest", "mock:latest", "qwen:0.5b"}));
    EXPECT_TRUE(reg.serves("qwen:0.5b", t0 + 5s));
    EXPECT_TRUE(reg.serves("mock", t0 + 5s));
    // w1 falls silent for more than the ttl.
    EXPECT_FALSE(reg.serves("qwen:0.5b", t0 + 7s));
    EXPECT_TRUE(reg.serves("llama3", t0 + 7s));
    EXPECT_EQ(reg.live(t0 + 7s).size(), 1u);
}

TEST(worker_registry, a_leaving_worker_drops_at_once) {
    worker_registry reg{6s};
    auto t0 = worker_registry::clock::time_point{} + 100s;
    reg.update(beat("w1", {"m"}), t0);
    auto bye = beat("w1", {"m"});
    bye.leaving = true;
    reg.update(bye, t0 + 1s);
    EXPECT_FALSE(reg.serves("m", t0 + 1s));
}

}  // namespace
}  // namespace llmp::api
