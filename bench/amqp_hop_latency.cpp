// RabbitMQ's own hop for one small message, by exchange type, `mandatory`, publisher confirms,
// and a persistent message published just before (issue 13, item 7): how much of the one-stream
// path's broker stages (bench/stage_breakdown) is the broker's routing and delivery.
//
// Two connections through llmproxy's own broker::connection (the publish path the processes
// use: one sendmsg per message): a publisher, and a consumer blocked in next_event() on an
// exclusive no-ack queue, as the API's response consumer reads its queue. One message at a time,
// a gap before each (so every hop starts from idle, as a lone stream's do); the time is from
// just before publish() to the delivery's return. Confirm variants wait for the confirm after
// the delivery, outside the timed span, before the next message. A channel cannot leave confirm
// mode, so those run after the others.
//
// Usage: llmproxy-amqp-hop [--amqp-url URL] [--messages N] [--gap-us N]
// bench/run_amqp_hop_latency starts a private RabbitMQ and runs it. Not part of the test suite.
#include "broker/connection.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace llmp;
using clk = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what, const llmp::error& e) {
    std::fprintf(stderr, "llmproxy-amqp-hop: %s: %s\n", what.c_str(), e.message.c_str());
    std::exit(1);
}

template <class T>
T need(result<T> r, const std::string& what) {
    if (!r) {
        die(what, r.error());
    }
    return std::move(r.value());
}

void need(result<void> r, const std::string& what) {
    if (!r) {
        die(what, r.error());
    }
}

struct variant {
    const char* name;
    std::string exchange;
    std::string routing_key;
    bool mandatory = false;
    bool confirm = false;
    bool after_persistent = false;  ///< a persistent message into a durable queue 0.5 ms before
};

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100 * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"RabbitMQ's own hop for one small message (issue 13)"};
    std::string url = std::getenv("LLMPROXY_AMQP_URL") ? std::getenv("LLMPROXY_AMQP_URL") : "";
    int messages = 1000;
    int gap_us = 300;
    app.add_option("--amqp-url", url, "the broker (default $LLMPROXY_AMQP_URL)")->required(url.empty());
    app.add_option("--messages", messages, "timed messages per variant (after 100 untimed)")
        ->check(CLI::Range(10, 1000000));
    app.add_option("--gap-us", gap_us, "pause before each message, microseconds")->check(CLI::Range(0, 1000000));
    CLI11_PARSE(app, argc, argv);

    broker::broker_config cfg;
    cfg.url = url;
    auto pub = need(broker::connection::open(cfg, "amqp-hop publisher"), "connect");
    auto con = need(broker::connection::open(cfg, "amqp-hop consumer"), "connect");
    const std::string tag = std::to_string(::getpid());
    const std::string queue = "amqp-hop." + tag;
    const std::string durable_queue = "amqp-hop-durable." + tag;
    need(con->declare_queue(queue, {.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}}),
         "declare queue");
    // Durable, as the work and audit queues are: a persistent message in it is written to disk.
    // Never consumed; exclusive, so it goes with the connection.
    need(con->declare_queue(durable_queue, {.durable = true, .exclusive = true, .auto_delete = false, .arguments = {}}),
         "declare durable queue");
    for (auto [name, type] : {std::pair{"amqp-hop.topic", "topic"}, std::pair{"amqp-hop.fanout", "fanout"},
                              std::pair{"amqp-hop.direct", "direct"}}) {
        need(con->declare_exchange(name, type), "declare exchange");
    }
    // As the API binds its queue to the responses exchange: "<server-id>.#".
    need(con->bind_queue(queue, "amqp-hop.topic", "server.#"), "bind");
    need(con->bind_queue(queue, "amqp-hop.fanout", ""), "bind");
    need(con->bind_queue(queue, "amqp-hop.direct", "key"), "bind");
    need(con->consume(queue, /*no_ack=*/true), "consume");

    const std::vector<variant> variants = {
        {"default exchange", "", queue},
        {"direct", "amqp-hop.direct", "key"},
        {"fanout", "amqp-hop.fanout", ""},
        {"topic", "amqp-hop.topic", "server.chunks"},
        {"topic, mandatory", "amqp-hop.topic", "server.chunks", true},
        {"default exchange, confirms", "", queue, false, true},
        {"topic, mandatory, confirms (a chunk)", "amqp-hop.topic", "server.chunks", true, true},
        {"the same, 0.5 ms after a persistent message", "amqp-hop.topic", "server.chunks", true, true, true},
    };
    const std::string body(120, 'x');  // a chunks message of a few short frames
    std::uint64_t published = 0;
    std::uint64_t confirmed = 0;
    bool confirms_on = false;
    std::printf("%-46s %8s %8s %8s   (microseconds, %d messages, %d us apart)\n", "variant", "p50", "p10", "p90",
                messages, gap_us);
    for (const auto& v : variants) {
        if (v.confirm && !confirms_on) {
            need(pub->enable_confirms(), "confirm.select");
            confirms_on = true;
            published = 0;  // confirm tags count from 1 at confirm.select
            confirmed = 0;
        }
        std::vector<double> took;
        for (int i = 0; i < messages + 100; ++i) {
            std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
            if (v.after_persistent) {
                broker::outgoing_message m{.exchange = "",
                                           .routing_key = durable_queue,
                                           .mandatory = false,
                                           .props = {},
                                           .body = std::string(900, 'r')};
                m.props.persistent = true;
                need(pub->publish(m), "publish");
                ++published;
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
            broker::outgoing_message m{.exchange = v.exchange,
                                       .routing_key = v.routing_key,
                                       .mandatory = v.mandatory,
                                       .props = {},
                                       .body = body};
            const auto t0 = clk::now();
            need(pub->publish(m), "publish");
            ++published;
            for (;;) {
                auto ev = need(con->next_event(std::chrono::milliseconds{5000}), "consume");
                if (std::holds_alternative<broker::delivery>(ev)) {
                    break;
                }
                if (std::holds_alternative<std::monostate>(ev)) {
                    std::fprintf(stderr, "llmproxy-amqp-hop: no delivery within 5 s\n");
                    return 1;
                }
            }
            const auto t1 = clk::now();
            while (confirms_on && confirmed < published) {
                auto ev = need(pub->next_event(std::chrono::milliseconds{5000}), "confirm");
                if (const auto* c = std::get_if<broker::confirm>(&ev)) {
                    confirmed = std::max(confirmed, c->delivery_tag);
                } else if (std::holds_alternative<std::monostate>(ev)) {
                    std::fprintf(stderr, "llmproxy-amqp-hop: no confirm within 5 s\n");
                    return 1;
                }
            }
            if (i >= 100) {
                took.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
            }
        }
        std::printf("%-46s %8.0f %8.0f %8.0f\n", v.name, percentile(took, 50), percentile(took, 10),
                    percentile(took, 90));
    }
    return 0;
}
