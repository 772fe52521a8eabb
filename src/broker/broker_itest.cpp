// Broker wrappers against the real RabbitMQ that scripts/test starts (LLMPROXY_TEST_AMQP_URL).
// Each test uses its own name prefix, so tests never see each other's queues.

#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/chunk_frames.hpp"
#include "common/ids.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <functional>
#include <map>
#include <utility>
#include <mutex>
#include <set>
#include <thread>

namespace llmp::broker {
namespace {

using namespace std::chrono_literals;

class broker_itest : public ::testing::Test {
protected:
    void SetUp() override {
        const char* url = std::getenv("LLMPROXY_TEST_AMQP_URL");
        if (url == nullptr) {
            GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
        }
        cfg.url = url;
        cfg.prefix = new_component_id("t");
    }
    broker_config cfg;
};

/// Collects deliveries from the consumer thread; waits with a timeout.
struct inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<delivery> got;
    void push(delivery&& d) {
        std::lock_guard lock{mu};
        got.push_back(std::move(d));
        cv.notify_all();
    }
    bool wait_for_count(std::size_t n, std::chrono::milliseconds t = 10s) {
        std::unique_lock lock{mu};
        return cv.wait_for(lock, t, [&] { return got.size() >= n; });
    }
};

/// A consumer of an API server's own queue (`<server-id>.#` on the responses exchange), no-ack,
/// that puts every delivery in `box`: what an API server sees of a worker's publisher.
std::unique_ptr<consumer> server_queue_consumer(const broker_config& cfg, const topology& topo,
                                                const std::string& server, inbox& box) {
    return std::make_unique<consumer>(
        cfg, "itest con",
        [&cfg, &topo, server](connection& c) -> result<void> {
            if (auto r = declare_core(c, topo, cfg); !r)
                return r;
            queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
            auto q = c.declare_queue(topo.server_queue(server), own);
            if (!q)
                return q.error();
            if (auto r = c.bind_queue(q.value(), topo.responses_exchange, server + ".#"); !r)
                return r;
            auto t = c.consume(q.value(), true);
            if (!t)
                return t.error();
            return ok();
        },
        [&box](delivery&& d, std::uint64_t) { box.push(std::move(d)); });
}

/// A multiplexed chunk of stream `id` for `server`, as a worker publishes it.
publish_job chunk_job(const topology& topo, const std::string& server, const char* id, std::int64_t seq,
                      const char* text) {
    publish_job job;
    job.multiplex = true;
    job.seq = seq;
    job.msg.exchange = topo.responses_exchange;
    job.msg.routing_key = chunks_key(server);
    job.msg.props.correlation_id = id;
    job.msg.body = text;
    return job;
}

/// A worker's publisher whose flush gate alone would hold chunks for a minute, started.
std::unique_ptr<publisher> gated_publisher(const broker_config& cfg, const topology& topo) {
    auto pub = std::make_unique<publisher>(cfg, "itest pub",
                                           [&cfg, &topo](connection& c) { return declare_core(c, topo, cfg); });
    pub->set_chunk_multiplexing(60s, 128 * 1024);
    EXPECT_TRUE(pub->start());
    return pub;
}

/// Takes what `box` receives, in order, until `done()` or 10 s: the frames of each chunks
/// message to `on_frame`, any other delivery to `on_other`.
void read_deliveries(inbox& box, const std::function<bool()>& done,
                     const std::function<void(const chunk_frame_view&)>& on_frame,
                     const std::function<void(const delivery&)>& on_other = {}) {
    std::size_t seen = 0;
    std::vector<chunk_frame_view> frames;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        box.wait_for_count(seen + 1, 1s);
        std::lock_guard lock{box.mu};
        for (; seen < box.got.size(); ++seen) {
            const auto& d = box.got[seen];
            if (d.props.content_type != chunk_frames_content_type) {
                if (on_other) {
                    on_other(d);
                }
                continue;
            }
            ASSERT_TRUE(decode_chunk_frames(d.body, frames));
            for (const auto& f : frames) {
                on_frame(f);
            }
        }
    }
}

TEST_F(broker_itest, request_is_confirmed_delivered_and_acked) {
    topology topo{cfg.prefix};
    const std::string model = "mock:latest";
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    inbox box;
    std::uint64_t epoch_seen = 0;
    consumer con{cfg, "itest con",
                 [&](connection& c) -> result<void> {
                     if (auto r = declare_core(c, topo, cfg); !r)
                         return r;
                     if (auto r = c.set_prefetch(4); !r)
                         return r;
                     if (auto r = declare_model_queue(c, topo, cfg, model); !r)
                         return r;
                     auto t = c.consume(topo.model_queue(model), false);
                     if (!t)
                         return t.error();
                     return ok();
                 },
                 [&](delivery&& d, std::uint64_t epoch) {
                     epoch_seen = epoch;
                     box.push(std::move(d));
                 }};
    ASSERT_TRUE(con.start());

    std::promise<publish_status> confirmed;
    publish_job job;
    job.msg.exchange = topo.requests_exchange;
    job.msg.routing_key = topo.model_key(model);
    job.msg.props.message_id = "req-1";
    job.msg.props.persistent = true;
    job.msg.props.priority = 3;
    job.msg.props.headers = {{"server_id", std::string{"api-1"}}, {"n", std::int64_t{42}}};
    job.msg.body = R"({"hello":"world"})";
    job.done = [&](publish_status s) { confirmed.set_value(s); };
    ASSERT_TRUE(pub.try_publish(std::move(job)));
    auto f = confirmed.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get(), publish_status::confirmed);

    ASSERT_TRUE(box.wait_for_count(1));
    const auto& d = box.got[0];
    EXPECT_EQ(d.body, R"({"hello":"world"})");
    EXPECT_EQ(d.props.message_id, "req-1");
    EXPECT_TRUE(d.props.persistent);
    EXPECT_EQ(d.props.priority.value_or(0), 3);
    EXPECT_EQ(field_string(d.props.headers, "server_id"), "api-1");
    EXPECT_EQ(field_int(d.props.headers, "n", 0), 42);
    con.ack(epoch_seen, d.delivery_tag);

    // The audit copy went to the audit queue through the fanout; the model's queue drains to 0
    // once the ack is carried out.
    auto conn = connection::open(cfg, "itest inspect");
    ASSERT_TRUE(conn);
    con.stop();  // stop() carries out queued acks before closing
    for (int i = 0; i < 200; ++i) {
        auto w = conn.value()->inspect_queue(topo.model_queue(model));
        ASSERT_TRUE(w);
        if (w.value().messages == 0) {
            break;
        }
    }
    EXPECT_EQ(conn.value()->inspect_queue(topo.model_queue(model)).value().messages, 0u);
    EXPECT_EQ(conn.value()->inspect_queue(topo.work_queue).value().messages, 0u) << "routed, so not unrouted";
    EXPECT_EQ(conn.value()->inspect_queue(topo.audit_requests_queue).value().messages, 1u);
    auto missing = conn.value()->inspect_queue("no-such-queue-" + cfg.prefix);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, "not_found");
    // The connection is still usable after the 404 on the scratch channel.
    EXPECT_TRUE(conn.value()->inspect_queue(topo.work_queue));
}

// next_event() reads a message's content frame by frame: an empty body (no body frame), and
// bodies longer than a frame (RabbitMQ's 128 KiB frame_max: several body frames) arrive whole,
// in order, with their properties, on the main channel and on consume_unlimited()'s.
TEST_F(broker_itest, messages_of_no_one_and_many_frames_arrive_whole) {
    auto conn = connection::open(cfg, "itest frames");
    ASSERT_TRUE(conn);
    auto& c = *conn.value();
    queue_options temp;
    temp.durable = false;
    temp.exclusive = true;
    temp.auto_delete = true;
    auto main_queue = c.declare_queue("", temp);
    auto unlimited_queue = c.declare_queue("", temp);
    ASSERT_TRUE(main_queue && unlimited_queue);
    ASSERT_TRUE(c.consume(main_queue.value(), /*no_ack=*/true));
    ASSERT_TRUE(c.consume_unlimited(unlimited_queue.value()));

    std::vector<std::string> bodies{"", "x", std::string(3 * 131072 + 17, 'a')};
    for (std::size_t i = 0; i < bodies.back().size(); ++i) {
        bodies.back()[i] = static_cast<char>('a' + (i * 7) % 26);  // a misplaced frame would show
    }
    for (const auto& queue : {main_queue.value(), unlimited_queue.value()}) {
        for (std::size_t i = 0; i < bodies.size(); ++i) {
            outgoing_message m;
            m.routing_key = queue;  // the default exchange
            m.props.correlation_id = queue + "-" + std::to_string(i);
            m.props.headers = {{"n", static_cast<std::int64_t>(i)}};
            m.body = bodies[i];
            ASSERT_TRUE(c.publish(m));
        }
    }
    std::map<std::string, std::vector<delivery>> got;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::size_t count = 0;
    while (count < 2 * bodies.size() && std::chrono::steady_clock::now() < deadline) {
        auto ev = c.next_event(200ms);
        ASSERT_TRUE(ev) << ev.error().message;
        if (auto* d = std::get_if<delivery>(&ev.value())) {
            got[d->routing_key].push_back(std::move(*d));
            ++count;
        }
    }
    for (const auto& queue : {main_queue.value(), unlimited_queue.value()}) {
        const auto& ds = got[queue];
        ASSERT_EQ(ds.size(), bodies.size()) << queue;
        for (std::size_t i = 0; i < bodies.size(); ++i) {
            EXPECT_EQ(ds[i].props.correlation_id, queue + "-" + std::to_string(i));
            EXPECT_EQ(field_int(ds[i].props.headers, "n", -1), static_cast<std::int64_t>(i));
            EXPECT_TRUE(ds[i].body == bodies[i]) << "message " << i << ": " << ds[i].body.size() << " bytes";
        }
    }
}

// publish() encodes a message's frames itself and writes them with one sendmsg() (see
// connection.cpp): an empty body (no body frame), one byte, exactly one and exactly three full
// frames (RabbitMQ's 128 KiB frame_max, 8 bytes of each a frame's own), and three frames and a
// bit arrive whole, in order, with every property, and are confirmed with their tags, on a
// connection that publishes nothing else.
TEST_F(broker_itest, published_messages_of_no_one_and_many_frames_arrive_whole_with_their_properties) {
    auto reader = connection::open(cfg, "itest frames reader");
    auto writer = connection::open(cfg, "itest frames writer");
    ASSERT_TRUE(reader && writer);
    auto& r = *reader.value();
    auto& w = *writer.value();
    queue_options temp;
    temp.durable = false;
    temp.exclusive = true;
    temp.auto_delete = true;
    auto queue = r.declare_queue("", temp);
    ASSERT_TRUE(queue);
    ASSERT_TRUE(r.consume(queue.value(), /*no_ack=*/true));
    ASSERT_TRUE(w.enable_confirms());

    constexpr std::size_t frame_body = 131072 - 8;
    std::vector<std::string> bodies{"", "x", std::string(frame_body, 'a'), std::string(3 * frame_body, 'a'),
                                    std::string(3 * frame_body + 17, 'a')};
    for (auto& b : bodies) {
        for (std::size_t i = 0; i < b.size(); ++i) {
            b[i] = static_cast<char>('a' + (i * 7) % 26);  // a misplaced frame would show
        }
    }
    auto message = [&](std::size_t i) {
        outgoing_message m;
        m.routing_key = queue.value();  // the default exchange
        m.mandatory = true;
        m.props.message_id = "m-" + std::to_string(i);
        m.props.correlation_id = "c-" + std::to_string(i);
        m.props.content_type = "application/x-test";
        m.props.type = "t" + std::to_string(i);
        m.props.expiration = "600000";
        m.props.priority = static_cast<std::uint8_t>(i);
        m.props.persistent = i % 2 == 0;
        m.props.timestamp = 1'700'000'000 + static_cast<std::int64_t>(i);
        m.props.headers = {{"n", static_cast<std::int64_t>(i)}, {"s", std::string(i, 's')}, {"b", i % 2 == 1}};
        m.body = bodies[i];
        return m;
    };
    for (std::size_t i = 0; i < bodies.size(); ++i) {
        auto tag = w.publish(message(i));
        ASSERT_TRUE(tag) << tag.error().message;
        EXPECT_EQ(tag.value(), i + 1);
    }

    std::vector<delivery> got;
    std::set<std::uint64_t> confirmed;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((got.size() < bodies.size() || confirmed.size() < bodies.size()) &&
           std::chrono::steady_clock::now() < deadline) {
        auto ev = r.next_event(50ms);
        ASSERT_TRUE(ev) << ev.error().message;
        if (auto* d = std::get_if<delivery>(&ev.value())) {
            got.push_back(std::move(*d));
        }
        auto cf = w.next_event(50ms);
        ASSERT_TRUE(cf) << cf.error().message;
        ASSERT_FALSE(std::holds_alternative<returned_message>(cf.value()));
        if (auto* c = std::get_if<confirm>(&cf.value())) {
            EXPECT_TRUE(c->ack);
            for (std::uint64_t t = c->multiple ? 1 : c->delivery_tag; t <= c->delivery_tag; ++t) {
                confirmed.insert(t);
            }
        }
    }
    EXPECT_EQ(confirmed.size(), bodies.size());
    ASSERT_EQ(got.size(), bodies.size());
    for (std::size_t i = 0; i < bodies.size(); ++i) {
        const auto want = message(i);
        const auto& d = got[i];
        EXPECT_EQ(d.routing_key, queue.value());
        EXPECT_EQ(d.props.message_id, want.props.message_id);
        EXPECT_EQ(d.props.correlation_id, want.props.correlation_id);
        EXPECT_EQ(d.props.content_type, want.props.content_type);
        EXPECT_EQ(d.props.type, want.props.type);
        EXPECT_EQ(d.props.expiration, want.props.expiration);
        EXPECT_EQ(d.props.priority, want.props.priority);
        EXPECT_EQ(d.props.persistent, want.props.persistent);
        EXPECT_EQ(d.props.timestamp, want.props.timestamp);
        EXPECT_EQ(field_int(d.props.headers, "n", -1), static_cast<std::int64_t>(i));
        EXPECT_EQ(field_string(d.props.headers, "s"), std::string(i, 's'));
        const auto* b = find_field(d.props.headers, "b");
        ASSERT_TRUE(b != nullptr && std::holds_alternative<bool>(*b));
        EXPECT_EQ(std::get<bool>(*b), i % 2 == 1);
        EXPECT_TRUE(d.body == bodies[i]) << "message " << i << ": " << d.body.size() << " bytes";
    }
}

// rabbitmq-c sends heartbeats from its clock of its own sends, which does not see publish()'s
// writes: a connection that only publishes still keeps the broker's heartbeat (1 s here, so
// RabbitMQ closes a silent connection within ~2 s), while publishing and while idle.
TEST_F(broker_itest, a_connection_that_only_publishes_keeps_its_heartbeats) {
    cfg.heartbeat_s = 1;
    auto conn = connection::open(cfg, "itest heartbeats");
    ASSERT_TRUE(conn);
    auto& c = *conn.value();
    queue_options temp;
    temp.durable = false;
    temp.exclusive = true;
    temp.auto_delete = true;
    auto queue = c.declare_queue("", temp);
    ASSERT_TRUE(queue);
    ASSERT_TRUE(c.enable_confirms());
    outgoing_message m;
    m.routing_key = queue.value();
    m.body = "beat";
    auto publish_and_confirm = [&] {
        auto tag = c.publish(m);
        ASSERT_TRUE(tag) << tag.error().message;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no confirm for " << tag.value();
            auto ev = c.next_event(100ms);
            ASSERT_TRUE(ev) << ev.error().message;
            if (auto* cf = std::get_if<confirm>(&ev.value()); cf != nullptr && cf->delivery_tag == tag.value()) {
                return;
            }
        }
    };
    // Publishing for 3 s: only publish()'s own writes and whatever rabbitmq-c adds.
    for (auto until = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < until;) {
        publish_and_confirm();
        auto ev = c.next_event(100ms);  // paces the publishes
        ASSERT_TRUE(ev) << ev.error().message;
    }
    // Idle for 3.5 s, waking as a publisher's loop does: only rabbitmq-c's heartbeats.
    for (auto until = std::chrono::steady_clock::now() + 3500ms; std::chrono::steady_clock::now() < until;) {
        auto ev = c.next_event(200ms);
        ASSERT_TRUE(ev) << ev.error().message;
    }
    publish_and_confirm();
}

TEST_F(broker_itest, unroutable_mandatory_message_is_returned) {
    topology topo{cfg.prefix};
    std::promise<std::string> returned;
    publisher pub{
        cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); },
        [&](returned_message&& r) { returned.set_value(r.props.correlation_id + " " + std::to_string(r.reply_code)); }};
    ASSERT_TRUE(pub.start());
    publish_job job;
    job.msg.exchange = topo.responses_exchange;
    job.msg.routing_key = chunk_key("api-gone");
    job.msg.mandatory = true;
    job.msg.props.correlation_id = "req-9";
    job.msg.body = "tok";
    ASSERT_TRUE(pub.try_publish(std::move(job)));
    auto f = returned.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get(), "req-9 312");
}

TEST_F(broker_itest, full_work_queue_nacks_the_publish) {
    cfg.work_queue_max_length = 2;
    topology topo{cfg.prefix};
    publisher pub{cfg, "itest pub", [&](connection& c) -> result<void> {
                      if (auto r = declare_core(c, topo, cfg); !r) {
                          return r;
                      }
                      return declare_model_queue(c, topo, cfg, "m:latest");
                  }};
    ASSERT_TRUE(pub.start());
    std::vector<std::promise<publish_status>> outcomes(3);
    for (auto& p : outcomes) {
        publish_job job;
        job.msg.exchange = topo.requests_exchange;
        job.msg.routing_key = topo.model_key("m:latest");
        job.msg.props.persistent = true;
        job.msg.body = "x";
        job.done = [&p](publish_status s) { p.set_value(s); };
        ASSERT_TRUE(pub.try_publish(std::move(job)));
    }
    std::vector<publish_status> got;
    for (auto& p : outcomes) {
        auto f = p.get_future();
        ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
        got.push_back(f.get());
    }
    EXPECT_EQ(got, (std::vector<publish_status>{publish_status::confirmed, publish_status::confirmed,
                                                publish_status::nacked}));
}

/// Publishes `jobs` messages to `exchange`/`key` and returns each confirm, in order.
std::vector<publish_status> publish_all(publisher& pub, const std::string& exchange, const std::string& key, int jobs) {
    std::vector<std::promise<publish_status>> outcomes(static_cast<std::size_t>(jobs));
    for (auto& p : outcomes) {
        publish_job job;
        job.msg.exchange = exchange;
        job.msg.routing_key = key;
        job.msg.props.persistent = true;
        job.msg.body = "x";
        job.done = [&p](publish_status s) { p.set_value(s); };
        EXPECT_TRUE(pub.try_publish(std::move(job)));
    }
    std::vector<publish_status> got;
    for (auto& p : outcomes) {
        auto f = p.get_future();
        if (f.wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "no confirm";
            break;
        }
        got.push_back(f.get());
    }
    return got;
}

TEST_F(broker_itest, a_full_audit_queue_nacks_the_publish_and_keeps_what_it_holds) {
    // Unbounded, the audit queues grew until RabbitMQ's memory alarm blocked every publisher.
    // Bounded with reject-publish, the publish is refused (the API answers 503), never dropped.
    cfg.audit_queue_max_length = 2;
    topology topo{cfg.prefix};
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    const std::vector<publish_status> two_then_refused{publish_status::confirmed, publish_status::confirmed,
                                                       publish_status::nacked};
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, "", 3), two_then_refused) << "requests";
    EXPECT_EQ(publish_all(pub, topo.responses_exchange, final_key("api-1"), 3), two_then_refused) << "responses";
    auto conn = connection::open(cfg, "itest inspect");
    ASSERT_TRUE(conn);
    EXPECT_EQ(conn.value()->inspect_queue(topo.audit_requests_queue).value().messages, 2u);
    EXPECT_EQ(conn.value()->inspect_queue(topo.audit_responses_queue).value().messages, 2u);
    EXPECT_EQ(conn.value()->inspect_queue(topo.dead_queue).value().messages, 0u) << "nothing dead-lettered";
}

TEST_F(broker_itest, an_audit_queue_declared_without_a_bound_is_kept_and_the_topology_still_declares) {
    // An upgrade: the audit queues exist from a version without the bound. RabbitMQ refuses to
    // change a queue's arguments; every process must start anyway.
    topology topo{cfg.prefix};
    {
        auto old = connection::open(cfg, "itest old version");
        ASSERT_TRUE(old);
        ASSERT_TRUE(old.value()->declare_exchange(topo.dead_exchange, "fanout"));
        queue_options unbounded;
        unbounded.arguments = {{"x-dead-letter-exchange", topo.dead_exchange}};
        ASSERT_TRUE(old.value()->declare_queue(topo.audit_requests_queue, unbounded));
        ASSERT_TRUE(old.value()->declare_queue(topo.audit_responses_queue, unbounded));
    }
    cfg.audit_queue_max_length = 2;
    auto conn = connection::open(cfg, "itest new version");
    ASSERT_TRUE(conn);
    auto r = declare_core(*conn.value(), topo, cfg);
    ASSERT_TRUE(r) << r.error().message;
    // The same connection goes on working (the refused declare used a channel of its own).
    EXPECT_TRUE(conn.value()->inspect_queue(topo.work_queue));
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, "", 3),
              (std::vector<publish_status>(3, publish_status::confirmed)))
        << "the old queue keeps its (lack of) bound";
}

/// Ready messages in `queue` (0 when it cannot be read: the test fails elsewhere).
std::uint32_t ready(connection& conn, const std::string& queue) {
    auto q = conn.inspect_queue(queue);
    EXPECT_TRUE(q) << queue;
    return q ? q.value().messages : 0;
}

/// Waits until `queue` holds `n` ready messages (a publish without confirms is not routed yet
/// when it returns).
bool wait_until_ready(connection& conn, const std::string& queue, std::uint32_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (ready(conn, queue) == n) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

TEST_F(broker_itest, requests_reach_only_their_models_queue_and_unknown_models_the_unrouted_queue) {
    topology topo{cfg.prefix};
    publisher pub{cfg, "itest pub", [&](connection& c) -> result<void> {
                      if (auto r = declare_core(c, topo, cfg); !r) {
                          return r;
                      }
                      for (const char* m : {"llama3.2:latest", "qwen2.5:latest"}) {
                          if (auto r = declare_model_queue(c, topo, cfg, m); !r) {
                              return r;
                          }
                      }
                      return ok();
                  }};
    ASSERT_TRUE(pub.start());
    const std::vector<publish_status> all_confirmed(2, publish_status::confirmed);
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, topo.model_key("llama3.2:latest"), 2), all_confirmed);
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, topo.model_key("qwen2.5:latest"), 1),
              std::vector<publish_status>{publish_status::confirmed});
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, topo.model_key("nobody:latest"), 1),
              std::vector<publish_status>{publish_status::confirmed});
    auto conn = connection::open(cfg, "itest inspect");
    ASSERT_TRUE(conn);
    auto& c = *conn.value();
    EXPECT_EQ(ready(c, topo.model_queue("llama3.2:latest")), 2u);
    EXPECT_EQ(ready(c, topo.model_queue("qwen2.5:latest")), 1u);
    EXPECT_EQ(ready(c, topo.work_queue), 1u) << "no queue for the key: the alternate exchange keeps it";
    EXPECT_EQ(ready(c, topo.audit_requests_queue), 4u) << "every request is audited once";
    EXPECT_EQ(ready(c, topo.dead_queue), 0u);
}

TEST_F(broker_itest, the_single_work_queue_of_an_older_version_is_taken_off_the_fanout_and_kept) {
    // An upgrade: the old topology had the fanout feed <p>.requests.work, and requests wait in it.
    topology topo{cfg.prefix};
    {
        auto old = connection::open(cfg, "itest old version");
        ASSERT_TRUE(old);
        auto& c = *old.value();
        ASSERT_TRUE(c.declare_exchange(topo.requests_exchange, "fanout"));
        ASSERT_TRUE(c.declare_exchange(topo.dead_exchange, "fanout"));
        queue_options work;
        work.arguments = {{"x-max-length", std::int64_t{cfg.work_queue_max_length}},
                          {"x-overflow", std::string{"reject-publish"}},
                          {"x-dead-letter-exchange", topo.dead_exchange},
                          {"x-max-priority", std::int64_t{cfg.max_priority}}};
        ASSERT_TRUE(c.declare_queue(topo.work_queue, work));
        ASSERT_TRUE(c.bind_queue(topo.work_queue, topo.requests_exchange, ""));
        outgoing_message m;
        m.exchange = topo.requests_exchange;
        m.body = "left by the old version";
        ASSERT_TRUE(c.publish(m));
        ASSERT_TRUE(wait_until_ready(c, topo.work_queue, 1));
    }
    publisher pub{cfg, "itest pub", [&](connection& c) -> result<void> {
                      if (auto r = declare_core(c, topo, cfg); !r) {
                          return r;
                      }
                      return declare_model_queue(c, topo, cfg, "mock:latest");
                  }};
    ASSERT_TRUE(pub.start());
    EXPECT_EQ(publish_all(pub, topo.requests_exchange, topo.model_key("mock:latest"), 1),
              std::vector<publish_status>{publish_status::confirmed});
    auto conn = connection::open(cfg, "itest inspect");
    ASSERT_TRUE(conn);
    EXPECT_EQ(ready(*conn.value(), topo.model_queue("mock:latest")), 1u);
    EXPECT_EQ(ready(*conn.value(), topo.work_queue), 1u) << "the old request is kept, the new one not copied there";
}

TEST_F(broker_itest, one_prefetch_budget_across_queues_and_a_cancelled_consumer_gets_no_more) {
    topology topo{cfg.prefix};
    std::mutex mu;
    std::map<std::string, std::string> tags;  // model -> consumer tag, consumer thread
    std::atomic<std::uint64_t> epoch{0};
    inbox box;
    consumer con{cfg, "itest con",
                 [&](connection& c) -> result<void> {
                     if (auto r = declare_core(c, topo, cfg); !r)
                         return r;
                     if (auto r = c.set_prefetch(1, /*shared=*/true); !r)
                         return r;
                     for (const char* m : {"a:latest", "b:latest"}) {
                         if (auto r = declare_model_queue(c, topo, cfg, m); !r)
                             return r;
                         auto t = c.consume(topo.model_queue(m), false);
                         if (!t)
                             return t.error();
                         std::lock_guard lock{mu};
                         tags[m] = t.value();
                     }
                     return ok();
                 },
                 [&](delivery&& d, std::uint64_t e) {
                     epoch = e;
                     box.push(std::move(d));
                 }};
    ASSERT_TRUE(con.start());
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    publish_all(pub, topo.requests_exchange, topo.model_key("a:latest"), 2);
    publish_all(pub, topo.requests_exchange, topo.model_key("b:latest"), 2);

    // One unacked delivery at a time over both queues: 3 stay ready.
    auto conn = connection::open(cfg, "itest inspect");
    ASSERT_TRUE(conn);
    ASSERT_TRUE(box.wait_for_count(1));
    EXPECT_EQ(ready(*conn.value(), topo.model_queue("a:latest")) + ready(*conn.value(), topo.model_queue("b:latest")),
              3u);
    EXPECT_FALSE(box.wait_for_count(2, 300ms)) << "the budget is shared, not one per queue";

    // Cancel b's consumer from the consumer thread; then ack one at a time: only a's arrive.
    std::promise<void> cancelled;
    con.run_with_connection([&](connection& c) -> result<void> {
        std::string tag;
        {
            std::lock_guard lock{mu};
            tag = tags["b:latest"];
        }
        auto r = c.cancel(tag);
        cancelled.set_value();
        return r;
    });
    ASSERT_EQ(cancelled.get_future().wait_for(10s), std::future_status::ready);
    // The first delivery (before the cancel) may be b's; every later one is a's, both of them.
    bool first_was_b = false;
    {
        std::lock_guard lock{box.mu};
        first_was_b = box.got[0].routing_key == topo.model_key("b:latest");
    }
    const std::size_t expected = first_was_b ? 3 : 2;
    for (std::size_t i = 0; i < expected; ++i) {
        ASSERT_TRUE(box.wait_for_count(i + 1)) << "delivery " << i;
        delivery d;
        {
            std::lock_guard lock{box.mu};
            d = box.got[i];
        }
        if (i > 0) {
            EXPECT_EQ(d.routing_key, topo.model_key("a:latest")) << "delivery " << i << " after the cancel";
        }
        con.ack(epoch, d.delivery_tag);  // the unacked delivery of a cancelled consumer is still acked
    }
    EXPECT_TRUE(wait_until_ready(*conn.value(), topo.model_queue("a:latest"), 0));
    EXPECT_EQ(ready(*conn.value(), topo.model_queue("b:latest")), first_was_b ? 1u : 2u);
    con.stop();
}

TEST_F(broker_itest, a_queue_consumed_unlimited_is_delivered_while_the_shared_prefetch_is_used_up) {
    // The worker's shape: a shared budget of 1 over the model queues, and its control queue.
    topology topo{cfg.prefix};
    std::string control_tag, control_queue;  // consumer thread, read after start()/futures
    std::atomic<std::uint64_t> epoch{0};
    inbox work, control;
    consumer con{cfg, "itest con",
                 [&](connection& c) -> result<void> {
                     if (auto r = declare_core(c, topo, cfg); !r)
                         return r;
                     if (auto r = c.set_prefetch(1, /*shared=*/true); !r)
                         return r;
                     if (auto r = declare_model_queue(c, topo, cfg, "a:latest"); !r)
                         return r;
                     if (auto t = c.consume(topo.model_queue("a:latest"), false); !t)
                         return t.error();
                     // Not auto-delete: it stays for inspect_queue() once its consumer is cancelled.
                     queue_options own{.durable = false, .exclusive = true, .auto_delete = false, .arguments = {}};
                     auto q = c.declare_queue("", own);
                     if (!q)
                         return q.error();
                     if (auto r = c.bind_queue(q.value(), topo.control_exchange, "cancel.*"); !r)
                         return r;
                     auto t = c.consume_unlimited(q.value());
                     if (!t)
                         return t.error();
                     control_queue = q.value();
                     control_tag = t.value();
                     return ok();
                 },
                 [&](delivery&& d, std::uint64_t e) {
                     if (d.exchange == topo.control_exchange) {
                         control.push(std::move(d));
                         return;
                     }
                     epoch = e;
                     work.push(std::move(d));
                 }};
    ASSERT_TRUE(con.start());
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());
    publish_all(pub, topo.requests_exchange, topo.model_key("a:latest"), 2);
    ASSERT_TRUE(work.wait_for_count(1));  // held unacked: the budget is used up

    // Under the budget this would wait for an ack (RabbitMQ's limiter stops no-ack consumers too).
    publish_all(pub, topo.control_exchange, cancel_key("r1"), 1);
    ASSERT_TRUE(control.wait_for_count(1)) << "a control message waited behind the prefetch budget";
    {
        std::lock_guard lock{control.mu};
        EXPECT_EQ(control.got[0].routing_key, cancel_key("r1"));
    }
    {
        std::lock_guard lock{work.mu};
        EXPECT_EQ(work.got.size(), 1u) << "the work budget still holds";
    }

    // cancel() finds the consumer on its own channel: the queue is left without one.
    std::promise<result<queue_state>> after_cancel;
    con.run_with_connection([&](connection& c) -> result<void> {
        if (auto r = c.cancel(control_tag); !r) {
            after_cancel.set_value(r.error());
            return r;
        }
        auto st = c.inspect_queue(control_queue);
        after_cancel.set_value(st);
        if (!st) {
            return st.error();
        }
        return ok();
    });
    auto f = after_cancel.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto st = f.get();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st.value().consumers, 0u);
    con.stop();
}

TEST_F(broker_itest, coalesced_chunks_keep_order_and_content) {
    topology topo{cfg.prefix};
    const std::string server = "api-x";
    inbox box;
    auto con = server_queue_consumer(cfg, topo, server, box);
    ASSERT_TRUE(con->start());
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    ASSERT_TRUE(pub.start());

    // Two interleaved streams of 2000 tokens each, then a final per stream.
    std::string expect_a, expect_b;
    for (int i = 0; i < 2000; ++i) {
        for (const char* id : {"a", "b"}) {
            publish_job job;
            job.coalesce = true;
            job.msg.exchange = topo.responses_exchange;
            job.msg.routing_key = chunk_key(server);
            job.msg.props.correlation_id = id;
            job.msg.props.headers = {{"seq", std::int64_t{i + 1}}};
            job.msg.body = std::string{id} + std::to_string(i) + " ";
            (id[0] == 'a' ? expect_a : expect_b) += job.msg.body;
            while (!pub.try_publish(std::move(job))) {
            }
        }
    }
    for (const char* id : {"a", "b"}) {
        publish_job job;
        job.msg.exchange = topo.responses_exchange;
        job.msg.routing_key = final_key(server);
        job.msg.props.correlation_id = id;
        job.msg.body = "final";
        ASSERT_TRUE(pub.try_publish(std::move(job)));
    }
    std::string got_a, got_b;
    int finals = 0;
    std::size_t seen = 0;
    std::int64_t last_seq_a = 0;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (finals < 2 && std::chrono::steady_clock::now() < deadline) {
        box.wait_for_count(seen + 1, 1s);
        std::lock_guard lock{box.mu};
        for (; seen < box.got.size(); ++seen) {
            const auto& d = box.got[seen];
            bool is_a = d.props.correlation_id == "a";
            if (d.routing_key == final_key(server)) {
                ++finals;
                EXPECT_EQ(is_a ? got_a : got_b, is_a ? expect_a : expect_b) << "a final overtook a chunk";
                continue;
            }
            (is_a ? got_a : got_b) += d.body;
            if (is_a) {
                auto seq = field_int(d.props.headers, "seq", 0);
                EXPECT_GT(seq, last_seq_a);
                last_seq_a = seq;
            }
        }
    }
    EXPECT_EQ(finals, 2);
    EXPECT_EQ(got_a, expect_a);
    EXPECT_EQ(got_b, expect_b);
    EXPECT_EQ(last_seq_a, 2000);  // the merged chunk carries the last token's seq
    std::cout << "4000 chunks arrived as " << seen - 2 << " messages\n";
}

TEST_F(broker_itest, multiplexed_chunks_keep_each_streams_order_and_its_final_comes_after) {
    topology topo{cfg.prefix};
    const std::string server = "api-m";
    inbox box;
    auto con = server_queue_consumer(cfg, topo, server, box);
    ASSERT_TRUE(con->start());
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); }};
    pub.set_chunk_multiplexing(2ms, 4096);  // small messages: the size bound is crossed too
    ASSERT_TRUE(pub.start());

    // Ten interleaved streams of 500 tokens; each stream's final right after its last token.
    constexpr int streams = 10, tokens = 500;
    std::map<std::string, std::string> expect, got;
    std::map<std::string, std::int64_t> last_seq;
    for (int i = 0; i < tokens; ++i) {
        for (int s = 0; s < streams; ++s) {
            const std::string id = "req-" + std::to_string(s);
            publish_job job;
            job.multiplex = true;
            job.seq = i + 1;
            job.msg.exchange = topo.responses_exchange;
            job.msg.routing_key = chunks_key(server);
            job.msg.mandatory = true;
            job.msg.props.correlation_id = id;
            job.msg.props.headers = {{"worker", std::string{"w-1"}}};
            job.msg.body = std::to_string(i) + " ";
            expect[id] += job.msg.body;
            while (!pub.try_publish(std::move(job))) {
            }
            if (i + 1 == tokens) {
                publish_job fin;
                fin.msg.exchange = topo.responses_exchange;
                fin.msg.routing_key = final_key(server);
                fin.msg.props.correlation_id = id;
                fin.msg.body = "final";
                while (!pub.try_publish(std::move(fin))) {
                }
            }
        }
    }
    int finals = 0;
    std::size_t seen = 0, chunk_messages = 0, frames_seen = 0;
    std::vector<chunk_frame_view> frames;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (finals < streams && std::chrono::steady_clock::now() < deadline) {
        box.wait_for_count(seen + 1, 1s);
        std::lock_guard lock{box.mu};
        for (; seen < box.got.size(); ++seen) {
            const auto& d = box.got[seen];
            if (d.routing_key == final_key(server)) {
                ++finals;
                EXPECT_EQ(got[d.props.correlation_id], expect[d.props.correlation_id]) << "a final overtook a chunk";
                continue;
            }
            ASSERT_EQ(d.routing_key, chunks_key(server));
            EXPECT_EQ(d.props.content_type, chunk_frames_content_type);
            EXPECT_EQ(field_string(d.props.headers, "worker"), "w-1");
            auto r = decode_chunk_frames(d.body, frames);
            ASSERT_TRUE(r) << r.error().message;
            EXPECT_LE(d.body.size(), 4096u + 64);
            ++chunk_messages;
            for (const auto& f : frames) {
                ++frames_seen;
                const std::string id{f.request_id};
                EXPECT_GT(f.seq, last_seq[id]) << id;
                last_seq[id] = f.seq;
                got[id] += f.text;
            }
        }
    }
    EXPECT_EQ(finals, streams);
    EXPECT_EQ(got, expect);
    for (const auto& [id, seq] : last_seq) {
        EXPECT_EQ(seq, tokens) << id;
    }
    EXPECT_LT(chunk_messages, static_cast<std::size_t>(streams * tokens) / 4) << "tokens per message should grow";
    std::cout << streams * tokens << " chunks arrived as " << chunk_messages << " messages, " << frames_seen
              << " frames\n";
}

TEST_F(broker_itest, multiplexed_chunks_for_a_gone_api_server_come_back_with_every_stream) {
    topology topo{cfg.prefix};
    std::promise<std::vector<std::string>> returned;
    bool first = true;  // publisher thread only
    publisher pub{cfg, "itest pub", [&](connection& c) { return declare_core(c, topo, cfg); },
                  [&](returned_message&& r) {
                      if (!std::exchange(first, false)) {
                          return;  // the second chunk's own message, when the first left alone
                      }
                      std::vector<chunk_frame_view> frames;
                      std::vector<std::string> ids;
                      if (decode_chunk_frames(r.body, frames)) {
                          for (const auto& f : frames) {
                              ids.emplace_back(f.request_id);
                          }
                      }
                      returned.set_value(ids);
                  }};
    pub.set_chunk_multiplexing(200ms, 128 * 1024);  // both chunks are held together
    ASSERT_TRUE(pub.start());
    for (const char* id : {"req-1", "req-2"}) {
        publish_job job;
        job.multiplex = true;
        job.seq = 2;  // not a stream's first chunk (that one is flushed at once)
        job.msg.exchange = topo.responses_exchange;
        job.msg.routing_key = chunks_key("api-gone");
        job.msg.mandatory = true;
        job.msg.props.correlation_id = id;
        job.msg.body = "tok";
        ASSERT_TRUE(pub.try_publish(std::move(job)));
    }
    auto f = returned.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto ids = f.get();
    // The first chunk may have left alone (the publisher was idle), the second then waited.
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), "req-1");
}

TEST_F(broker_itest, a_streams_first_chunk_is_not_held_by_the_flush_gate) {
    topology topo{cfg.prefix};
    const std::string server = "api-f";
    inbox box;
    auto con = server_queue_consumer(cfg, topo, server, box);
    ASSERT_TRUE(con->start());
    auto pub = gated_publisher(cfg, topo);
    auto chunk = [&](const char* id, std::int64_t seq, const char* text) {
        ASSERT_TRUE(pub->try_publish(chunk_job(topo, server, id, seq, text)));
    };
    // Stream a's chunks 2 and 3: the first flush goes at once (an idle publisher), what follows
    // it waits for the gate. Then stream b's first chunk: it takes what is held with it, now.
    chunk("a", 2, "x");
    chunk("a", 3, "y");
    chunk("b", 1, "first");
    std::map<std::string, std::string> got;
    read_deliveries(
        box, [&] { return !got["b"].empty(); },
        [&](const chunk_frame_view& f) { got[std::string{f.request_id}] += f.text; });
    EXPECT_EQ(got["b"], "first") << "a first chunk waited for the flush gate";
    EXPECT_EQ(got["a"], "xy") << "what was held before it goes with it";
}

TEST_F(broker_itest, a_lone_streams_answer_ends_without_waiting_for_the_flush_gate) {
    // One stream served: the end of its answer (here a final) goes at once, its held chunks
    // before it, not when the gate opens (flush_gate::lone_stream(); under load it still waits,
    // which the chunk_mux unit tests and bench/run_streaming show).
    topology topo{cfg.prefix};
    const std::string server = "api-u";
    inbox box;
    auto con = server_queue_consumer(cfg, topo, server, box);
    ASSERT_TRUE(con->start());
    const auto gated = gated_publisher(cfg, topo);
    auto& pub = *gated;
    // The first chunk goes at once. The second is held: the publisher has taken it from its
    // queue (queued() is 0) and flushed a moment ago, so the gate holds it for a minute.
    ASSERT_TRUE(pub.try_publish(chunk_job(topo, server, "a", 1, "t")));
    ASSERT_TRUE(box.wait_for_count(1)) << "a first chunk waited";
    ASSERT_TRUE(pub.try_publish(chunk_job(topo, server, "a", 2, "t")));
    const auto taken_by = std::chrono::steady_clock::now() + 10s;
    while (pub.queued() > 0 && std::chrono::steady_clock::now() < taken_by) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(pub.queued(), 0u);
    publish_job end;
    end.msg.exchange = topo.responses_exchange;
    end.msg.routing_key = final_key(server);
    end.msg.props.correlation_id = "a";
    end.msg.body = "{}";
    ASSERT_TRUE(pub.try_publish(std::move(end)));

    std::string text;
    bool final_seen = false;
    read_deliveries(
        box, [&] { return final_seen; },
        [&](const chunk_frame_view& f) {
            EXPECT_FALSE(final_seen) << "a chunk came after its stream's final";
            text += f.text;
        },
        [&](const delivery& d) { final_seen = final_seen || d.routing_key == final_key(server); });
    EXPECT_TRUE(final_seen) << "a lone stream's final waited for the flush gate";
    EXPECT_EQ(text, "tt") << "its held chunk goes before it";
}

}  // namespace
}  // namespace llmp::broker
