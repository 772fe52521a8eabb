// backlog_sampler against the real RabbitMQ (scripts/test sets LLMPROXY_TEST_AMQP_URL): the
// audit queues' depths and the alarm, as Prometheus sees them.

#include "audit/backlog_sampler.hpp"

#include "audit/audit_metrics.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/ids.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <thread>

namespace llmp::audit {
namespace {

using namespace std::chrono_literals;

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (p()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return p();
}

TEST(backlog_sampler, reports_the_audit_queue_depths_and_raises_the_alarm) {
    const char* url = std::getenv("LLMPROXY_TEST_AMQP_URL");
    if (url == nullptr) {
        GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
    }
    broker::broker_config cfg;
    cfg.url = url;
    cfg.prefix = new_component_id("t");
    broker::topology topo{cfg.prefix};
    metrics::registry reg;
    audit_metrics m{reg};
    backlog_sampler sampler{cfg,
                            {{"requests", topo.audit_requests_queue}, {"responses", topo.audit_responses_queue}},
                            100ms,
                            /*alarm_messages=*/3,
                            m};
    sampler.start();  // before the queues exist: nothing to report, no error
    broker::publisher pub{cfg, "itest pub", [&](broker::connection& c) { return broker::declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    auto publish = [&](const std::string& exchange, const std::string& key) {
        std::promise<broker::publish_status> done;
        broker::publish_job job;
        job.msg.exchange = exchange;
        job.msg.routing_key = key;
        job.msg.body = "x";
        job.done = [&done](broker::publish_status s) { done.set_value(s); };
        ASSERT_TRUE(pub.try_publish(std::move(job)));
        ASSERT_EQ(done.get_future().get(), broker::publish_status::confirmed);
    };
    for (int i = 0; i < 2; ++i) {
        publish(topo.requests_exchange, "");
    }
    publish(topo.responses_exchange, broker::final_key("api-1"));
    auto& requests = m.queue_messages.with({"requests"});
    auto& responses = m.queue_messages.with({"responses"});
    ASSERT_TRUE(wait_until([&] { return requests.value() == 2 && responses.value() == 1; }))
        << requests.value() << " " << responses.value();
    EXPECT_EQ(m.backlog_alarm.value(), 0) << "2 < 3";
    publish(topo.requests_exchange, "");
    ASSERT_TRUE(wait_until([&] { return m.backlog_alarm.value() == 1; }));
    EXPECT_EQ(requests.value(), 3);
    sampler.stop();
}

}  // namespace
}  // namespace llmp::audit
