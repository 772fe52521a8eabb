// Hostile requests against the worker (issue 11, item 3), with real api and worker processes on
// the real broker: a poison message that kills every worker taking it is dead-lettered after
// --max-deliveries while the others keep serving; an exception in one generation ends only that
// generation; a client's num_predict of 2^31-1 is cut at --max-tokens. The prompt triggers
// ([[mock:abort]], [[mock:throw]], [[mock:throw-mid]]) exist only with --enable-test-triggers.

#include "e2e_common.hpp"
#include "support/raw_stream.hpp"

#include "broker/connection.hpp"
#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "common/messages.hpp"

#include <map>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;

/// The SSE events of a finished raw stream (after the HTTP head).
std::vector<sse_event> events_of(const raw_stream& s) {
    std::vector<sse_event> evs;
    auto head_end = s.received().find("\r\n\r\n");
    if (head_end != std::string::npos) {
        sse_parser{}.feed(s.received().substr(head_end + 4), evs);
    }
    return evs;
}

int running_workers(cluster& c) {
    int n = 0;
    for (auto& w : c.workers()) {
        n += w->running() ? 1 : 0;
    }
    return n;
}

/// Expects one normal request to complete on the cluster (the survivors still serve).
void expect_normal_answer(unsigned port, const std::string& prompt, const cluster& c) {
    auto r = http_post(port, "/api/generate", generate_body("mock", prompt, 4, false));
    ASSERT_EQ(r.status, 200) << r.body << "\n" << c.logs();
    EXPECT_EQ(json_of(r.body)["response"], providers::mock_text(prompt, 4)) << r.body;
}

TEST(worker_hostile_e2e, a_request_that_kills_its_workers_is_dead_lettered_after_the_limit) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    // Limit 2: the first two workers that take the request die (deliveries 1 and 2), the third
    // sees delivery 3 and sets it aside. Which worker is which is up to the broker.
    for (const char* id : {"w-a", "w-b", "w-c"}) {
        c.start_worker({"--worker-id", id, "--enable-test-triggers", "--max-deliveries", "2"});
    }
    for (const char* id : {"w-a", "w-b", "w-c"}) {
        ASSERT_TRUE(worker_listed(port, id, 30s)) << c.logs();
    }

    raw_stream s{port, "/api/generate", generate_body("mock", "poison [[mock:abort]]", 5)};
    ASSERT_TRUE(s.read_to_end(60s)) << "the client was left hanging\n" << s.received() << c.logs();
    auto evs = events_of(s);
    ASSERT_FALSE(evs.empty()) << s.received();
    EXPECT_EQ(evs.back().event, "error") << s.received();
    auto e = json_of(evs.back().data);
    EXPECT_EQ(e["code"], "poison_request") << s.received();
    EXPECT_NE(e["message"].get<std::string>().find("dead-letter"), std::string::npos) << s.received();

    // Exactly two workers died: the redeliveries were bounded.
    EXPECT_EQ(running_workers(c), 1) << c.logs();

    // The request waits in <p>.dead with its reason and count.
    broker::broker_config bcfg;
    bcfg.url = amqp_url;
    bcfg.prefix = c.prefix();
    broker::topology topo{c.prefix()};
    auto conn = broker::connection::open(bcfg, "worker hostile e2e dead-letter reader");
    ASSERT_TRUE(conn) << conn.error().message;
    ASSERT_TRUE(conn.value()->consume(topo.dead_queue, /*no_ack=*/true));
    std::optional<broker::delivery> dead;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!dead && std::chrono::steady_clock::now() < deadline) {
        auto ev = conn.value()->next_event(200ms);
        ASSERT_TRUE(ev) << ev.error().message;
        if (auto* d = std::get_if<broker::delivery>(&ev.value())) {
            dead = std::move(*d);
        }
    }
    ASSERT_TRUE(dead) << "nothing in " << topo.dead_queue << "\n" << c.logs();
    EXPECT_NE(dead->body.find("[[mock:abort]]"), std::string::npos);
    EXPECT_EQ(broker::field_int(dead->props.headers, "x-llmp-deliveries", 0), 3);
    EXPECT_NE(broker::field_string(dead->props.headers, "x-reason").find("delivered 3 times"), std::string::npos)
        << broker::field_string(dead->props.headers, "x-reason");

    // And the survivor keeps serving.
    expect_normal_answer(port, "after the poison", c);
    EXPECT_EQ(running_workers(c), 1);
}

TEST(worker_hostile_e2e, an_exception_in_one_generation_ends_it_with_internal_error_and_the_worker_serves_on) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    auto& worker = c.start_worker({"--worker-id", "w-only", "--enable-test-triggers"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();

    // Thrown by the provider's start (std::bad_alloc), then from inside a running generation.
    for (const char* prompt : {"allocate the moon [[mock:throw]]", "one token then [[mock:throw-mid]]"}) {
        raw_stream s{port, "/api/generate", generate_body("mock", prompt, 5)};
        ASSERT_TRUE(s.read_to_end(30s)) << s.received() << c.logs();
        auto evs = events_of(s);
        ASSERT_FALSE(evs.empty()) << s.received();
        EXPECT_EQ(evs.back().event, "error") << prompt << "\n" << s.received();
        EXPECT_EQ(json_of(evs.back().data)["code"], "internal_error") << s.received();
        ASSERT_TRUE(worker.running()) << worker.log();
    }
    EXPECT_NE(worker.log().find("generation threw"), std::string::npos) << worker.log();
    // Acked, not requeued: the request did not come back to this (only) worker.
    EXPECT_EQ(worker.log().find("redelivered request"), std::string::npos) << worker.log();
    expect_normal_answer(port, "business as usual", c);
    EXPECT_TRUE(worker.running());
}

TEST(worker_hostile_e2e, triggers_are_plain_text_without_the_test_flag) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    auto& worker = c.start_worker();
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    expect_normal_answer(port, "try [[mock:abort]]", c);
    EXPECT_TRUE(worker.running()) << worker.log();
}

TEST(worker_hostile_e2e, an_unbounded_num_predict_is_cut_at_max_tokens) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--max-tokens", "20", "--mock-token-delay-us", "0"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    for (std::int64_t asked : {std::int64_t{2147483647}, std::int64_t{-1}}) {
        nlohmann::json body{
            {"model", "mock"}, {"prompt", "never stop"}, {"options", {{"num_predict", asked}}}, {"stream", false}};
        auto r = http_post(port, "/api/generate", body.dump());
        ASSERT_EQ(r.status, 200) << r.body << c.logs();
        auto j = json_of(r.body);
        EXPECT_EQ(j["response"], providers::mock_text("never stop", 20)) << asked;
        EXPECT_EQ(j["done_reason"], "length") << r.body;
    }
}

TEST(worker_hostile_e2e, two_copies_of_one_request_on_one_worker_each_end_and_leave_nothing_in_flight) {
    LLMP_REQUIRE_BROKER();
    // One worker can hold two copies of a request: a redelivered one it could not put back
    // (broker trouble) runs here, and the copy the broker requeued can come back to it. Each
    // copy must end and leave the in-flight count, or a SIGTERM waits for a generation that
    // no longer exists (seen after a broker restart: the drain ran out and the worker was
    // killed). Two copies on the model's queue make the same state at once.
    cluster c{amqp_url};
    auto port = c.start_api();
    auto& worker = c.start_worker({"--worker-id", "w-twice"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    const auto mport = c.metrics_port(worker);

    broker::broker_config bcfg;
    bcfg.url = amqp_url;
    bcfg.prefix = c.prefix();
    broker::topology topo{c.prefix()};
    request_message m;
    m.request_id = "the-same-request";
    m.server_id = "an-api-server-gone";  // the answers come back unrouted: both copies are cancelled
    m.received_at_ms = unix_ms();
    m.model = "mock";
    m.prompt = "twice";
    m.kind = request_kind::generate;
    // The first token 300 ms out: the second copy starts while the first waits for it.
    m.options = {{"num_predict", 5}, {"mock_token_delay_ms", 300}};
    {
        auto conn = broker::connection::open(bcfg, "worker hostile e2e twice");
        ASSERT_TRUE(conn) << conn.error().message;
        broker::outgoing_message msg;
        msg.routing_key = topo.model_queue("mock:latest");  // default exchange
        msg.props.persistent = true;
        msg.body = encode(m);
        ASSERT_TRUE(conn.value()->publish(msg));
        ASSERT_TRUE(conn.value()->publish(msg));
    }
    EXPECT_TRUE(wait_until([&] { return metric_sum(mport, "llmproxy_worker_generations_total") == 2; }, 15s))
        << "both copies' generations end: " << metric_sum(mport, "llmproxy_worker_generations_total") << "\n"
        << worker.log();
    EXPECT_TRUE(wait_until([&] { return metric_sum(mport, "llmproxy_worker_generations_in_flight") == 0; }, 15s))
        << metric_sum(mport, "llmproxy_worker_generations_in_flight") << " still in flight\n"
        << worker.log();
    // And it still serves (the cluster's teardown then checks that SIGTERM stops it at once).
    expect_normal_answer(port, "after the copies", c);
}

}  // namespace
}  // namespace llmp::testing
