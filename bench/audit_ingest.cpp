// Audit ingest benchmark (issue 3): how fast the audit service moves records from its RabbitMQ
// queues into PostgreSQL, and the lag from publish to COMMIT.
//
//   phase 1 (throughput): M records (half request messages, half final messages, realistic
//     sizes) are published straight to the audit queues while no audit consumer runs; then the
//     audit service (in this process, the same code as `llmproxy audit`) starts and drains them.
//     records/s = M / (time from start to the last commit).
//   baseline (broker ceiling): the same M records are published to the audit queues of a
//     second prefix and drained by a bare consumer (same prefetch, one ack(multiple) per
//     batch-rows deliveries, nothing else): what RabbitMQ alone delivers on this machine. The
//     throughput is also printed as a ratio of it.
//   phase 2 (lag): with the service running, records are published at a steady rate; each
//     carries its publish time (received_at_ms / completed_at_ms), and the writer measures
//     COMMIT time minus that for every row: p50/p99/max.
//
// Needs RabbitMQ (LLMPROXY_AMQP_URL) and PostgreSQL (LLMPROXY_DATABASE_URL); works in a
// scratch database (or the existing one --database names, kept) and a unique queue prefix,
// dropped/left behind respectively.

#include "audit/audit_service.hpp"
#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/messages.hpp"
#include "pg/connection.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

namespace {

using namespace llmp;
using namespace std::chrono_literals;

struct options {
    std::string amqp_url = "amqp://guest:guest@127.0.0.1:5672/";
    std::string database_url = "postgresql://postgres@127.0.0.1:5432/llmproxy";
    std::string database;  ///< an existing database to ingest into; empty: a scratch one
    int records = 200000;
    int rate = 20000;
    int lag_seconds = 10;
    bool transient = false;
    bool no_ack_baseline = false;
    audit::audit_config audit;
};

std::string lorem(std::size_t n, int seed) {
    static constexpr std::string_view words[] = {"the ",  "quick ", "model ", "answers ", "every ",  "question ",
                                                 "with ", "care, ", "token ", "by ",      "token.\n"};
    std::string s;
    for (std::size_t i = 0; s.size() < n; ++i) {
        s += words[(i * 7 + static_cast<std::size_t>(seed)) % std::size(words)];
    }
    return s;
}

class bench_publisher {
public:
    bench_publisher(const broker::broker_config& cfg, const broker::topology& topo, bool persistent)
        : topo_{topo},
          persistent_{persistent},
          pub_{cfg, "audit bench publisher",
               [&cfg, &topo](broker::connection& c) { return broker::declare_core(c, topo, cfg); }} {}

    result<void> start() { return pub_.start(); }
    void stop() { pub_.stop(); }

    /// Publishes one request + one final message (2 records) stamped with the current time.
    void publish_pair(int i) {
        auto now = unix_ms();
        auto id = "bench-" + std::to_string(i) + "-" + run_id_;
        request_message r;
        r.request_id = id;
        r.server_id = "bench";
        r.received_at_ms = now;
        r.model = "llama3.2";
        r.route = "/api/chat";
        r.user_agent = "audit-bench/1";
        r.client_addr = "127.0.0.1";
        r.messages = nlohmann::json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}},
                                            {{"role", "user"}, {"content", lorem(180, i)}}});
        r.options = {{"temperature", 0.7}, {"num_predict", 128}};
        broker::outgoing_message m;
        m.exchange = "";  // default exchange: straight into the audit queue
        m.routing_key = topo_.audit_requests_queue;
        m.props.message_id = id;
        m.props.persistent = persistent_;
        m.props.content_type = "application/json";
        m.body = encode(r);
        send(std::move(m));

        final_message f;
        f.text = lorem(400, i + 3);
        f.prompt_tokens = 42;
        f.completion_tokens = 96;
        f.ttft_ms = 85.5;
        f.duration_ms = 2210.25;
        f.tokens_per_s = 43.4;
        f.worker_id = "worker-bench";
        f.provider = "ollama";
        f.model = "llama3.2";
        f.provider_metrics = {{"eval_count", 96}, {"eval_duration", 2100000000}};
        f.completed_at_ms = now;
        f.request_received_at_ms = now;  // as a worker copies it from the request (common/messages.hpp)
        broker::outgoing_message fm;
        fm.exchange = topo_.responses_exchange;  // "bench.final": only the audit queue is bound
        fm.routing_key = "bench.final";
        fm.props.correlation_id = id;
        fm.props.message_id = id;
        fm.props.persistent = persistent_;
        fm.props.headers = {{"seq", std::int64_t{96}}, {"worker", std::string{"worker-bench"}}};
        fm.body = encode(f);
        send(std::move(fm));
    }

    /// Publishes pairs [0, n) and waits (up to 5 minutes) until the broker has answered for
    /// every record; false if it did not.
    bool publish_pairs(int n) {
        for (int i = 0; i < n; ++i) {
            publish_pair(i);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{5};
        while (confirmed() + refused() < 2LL * n) {
            if (std::chrono::steady_clock::now() > deadline) {
                std::fprintf(stderr, "the broker did not confirm the prefill within 5 minutes\n");
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
        return true;
    }
    std::int64_t confirmed() const { return confirmed_.load(); }
    std::int64_t refused() const { return refused_.load(); }

private:
    void send(broker::outgoing_message&& m) {
        broker::publish_job job;
        job.msg = std::move(m);
        job.done = [this](broker::publish_status s) {
            (s == broker::publish_status::confirmed ? confirmed_ : refused_).fetch_add(1);
        };
        while (!pub_.try_publish(std::move(job))) {
            std::this_thread::sleep_for(200us);
        }
    }

    const broker::topology& topo_;
    bool persistent_;
    broker::publisher pub_;
    std::string run_id_ = new_component_id("r");
    std::atomic<std::int64_t> confirmed_{0};
    std::atomic<std::int64_t> refused_{0};
};

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds timeout, std::chrono::milliseconds step = 2ms) {
    auto deadline = steady::now() + timeout;
    while (steady::now() < deadline) {
        if (p()) {
            return true;
        }
        std::this_thread::sleep_for(step);
    }
    return p();
}

/// The broker ceiling: drains `records` messages from the audit queues of `topo` with a bare
/// consumer that only acks (multiple, every `ack_every`; with `no_ack` the broker forgets each
/// message as it sends it, which the audit service must not do). Returns seconds from start to
/// the last delivery, or -1 on failure.
double drain_bare(const broker::broker_config& cfg, const broker::topology& topo, int records, int prefetch,
                  int ack_every, bool no_ack) {
    std::atomic<std::int64_t> delivered{0};
    std::uint64_t since_ack = 0;
    broker::consumer* self = nullptr;
    broker::consumer c{cfg, "audit bench bare consumer",
                       [&topo, prefetch, no_ack](broker::connection& conn) -> result<void> {
                           if (auto q = conn.set_prefetch(static_cast<std::uint16_t>(std::clamp(prefetch, 1, 65535)));
                               !q) {
                               return q;
                           }
                           for (const auto* q : {&topo.audit_requests_queue, &topo.audit_responses_queue}) {
                               if (auto r = conn.consume(*q, no_ack); !r) {
                                   return r.error();
                               }
                           }
                           return ok();
                       },
                       [&](broker::delivery&& d, std::uint64_t epoch) {
                           auto n = delivered.fetch_add(1) + 1;
                           if (!no_ack && (++since_ack >= static_cast<std::uint64_t>(ack_every) || n == records)) {
                               self->ack_multiple(epoch, d.delivery_tag);
                               since_ack = 0;
                           }
                       }};
    self = &c;
    auto t0 = steady::now();
    if (auto r = c.start(); !r) {
        std::fprintf(stderr, "bare consumer: %s\n", r.error().message.c_str());
        return -1;
    }
    bool done = wait_until([&] { return delivered.load() >= records; }, 300s, 1ms);
    double s = ms_since(t0) / 1000.0;
    c.stop();
    return done ? s : -1;
}

int run(options& o) {
    llmp::log::setup("warn", "audit-bench");
    const bool scratch = o.database.empty();
    auto db_name = scratch ? "bench_" + new_component_id("a").substr(2) : o.database;
    auto admin = pg::connection::open(pg::with_database(o.database_url, "postgres"));
    if (!admin || (scratch && !admin.value()->exec("CREATE DATABASE " + db_name))) {
        std::fprintf(stderr, "cannot create the scratch database\n");
        return 1;
    }
    o.audit.database_url = pg::with_database(o.database_url, db_name);
    o.audit.broker.url = o.amqp_url;
    o.audit.broker.prefix = new_component_id("bench");
    broker::topology topo{o.audit.broker.prefix};
    bench_publisher pub{o.audit.broker, topo, !o.transient};
    if (auto r = pub.start(); !r) {
        std::fprintf(stderr, "cannot connect to RabbitMQ: %s\n", r.error().message.c_str());
        return 1;
    }
    int exit_code = 0;
    const int pairs = o.records / 2;
    double bare_rate = 0;
    {
        // Baseline: the broker alone, on queues of their own (so phase 1 starts from empty ones).
        auto bcfg = o.audit.broker;
        bcfg.prefix = new_component_id("bench-bare");
        broker::topology btopo{bcfg.prefix};
        bench_publisher bpub{bcfg, btopo, !o.transient};
        if (auto r = bpub.start(); !r) {
            std::fprintf(stderr, "cannot connect to RabbitMQ: %s\n", r.error().message.c_str());
            return 1;
        }
        if (!bpub.publish_pairs(pairs)) {
            return 1;
        }
        bpub.stop();
        std::printf("baseline prefill: %d records published and confirmed\n", 2 * pairs);
        std::fflush(stdout);
        double s = drain_bare(bcfg, btopo, 2 * pairs, o.audit.prefetch, o.audit.batch_rows, o.no_ack_baseline);
        if (s <= 0) {
            return 1;
        }
        bare_rate = 2 * pairs / s;
        std::printf("baseline: %d records drained by a bare consumer (%s) in %.2f s = %.0f records/s\n", 2 * pairs,
                    o.no_ack_baseline ? "no_ack" : "ack only", s, bare_rate);
        std::fflush(stdout);
    }
    {
        // The audit queues must exist before the prefill (declare_core ran in pub.start()).
        auto t0 = steady::now();
        if (!pub.publish_pairs(pairs)) {
            return 1;
        }
        double publish_s = ms_since(t0) / 1000.0;
        std::printf("prefill: %d records published and confirmed in %.2f s (%.0f/s), refused %lld\n", 2 * pairs,
                    publish_s, 2 * pairs / publish_s, static_cast<long long>(pub.refused()));
        std::fflush(stdout);  // the drain starts now: visible to a profiler waiting on this line

        audit::audit_service svc{o.audit};
        auto t1 = steady::now();
        if (auto r = svc.start(); !r) {
            std::fprintf(stderr, "audit start failed: %s\n", r.error().message.c_str());
            return 1;
        }
        const auto want = static_cast<std::uint64_t>(2 * pairs);
        // 10 ms polls: stats() computes lag quantiles, and the drain takes seconds.
        if (!wait_until([&] { return svc.stats().rows >= want; }, 600s, 10ms)) {
            std::fprintf(stderr, "drain timed out at %llu rows\n", static_cast<unsigned long long>(svc.stats().rows));
            exit_code = 1;
        }
        double drain_s = ms_since(t1) / 1000.0;
        auto s1 = svc.stats();
        std::printf(
            "throughput: %llu records drained into PostgreSQL in %.2f s = %.0f records/s (%llu batches, "
            "%.0f rows/batch, %.2f s inside BEGIN..COMMIT)\n",
            static_cast<unsigned long long>(s1.rows), drain_s, static_cast<double>(s1.rows) / drain_s,
            static_cast<unsigned long long>(s1.batches),
            static_cast<double>(s1.rows) / static_cast<double>(std::max<std::uint64_t>(s1.batches, 1)),
            s1.write_ms / 1000.0);
        std::printf("  = %.2f x the baseline (RabbitMQ alone)\n", static_cast<double>(s1.rows) / drain_s / bare_rate);
        std::printf("  in PostgreSQL: COPY %.2f s, INSERT from staging %.2f s (%llu batches staged), COMMIT %.2f s\n",
                    s1.copy_ms / 1000.0, s1.insert_ms / 1000.0, static_cast<unsigned long long>(s1.staged_batches),
                    s1.commit_ms / 1000.0);

        // Phase 2: steady publishing at o.rate records/s.
        svc.reset_lag();
        const int lag_pairs = o.rate / 2 * o.lag_seconds;
        auto t2 = steady::now();
        const auto pair_interval = std::chrono::duration<double>(2.0 / o.rate);
        for (int i = 0; i < lag_pairs; ++i) {
            auto due = t2 + std::chrono::duration_cast<steady::duration>(pair_interval * i);
            if (steady::now() < due) {
                std::this_thread::sleep_until(due);
            }
            pub.publish_pair(pairs + i);
        }
        double pub_s = ms_since(t2) / 1000.0;
        wait_until([&] { return svc.stats().rows >= want + static_cast<std::uint64_t>(2 * lag_pairs); }, 120s, 10ms);
        auto s2 = svc.stats();
        std::printf(
            "lag: %d records at %.0f records/s offered (%.0f achieved): publish->commit p50 %lld ms, "
            "p99 %lld ms, max %lld ms\n",
            2 * lag_pairs, static_cast<double>(o.rate), 2 * lag_pairs / pub_s, static_cast<long long>(s2.lag_p50_ms),
            static_cast<long long>(s2.lag_p99_ms), static_cast<long long>(s2.lag_max_ms));
        svc.stop();
        auto check = pg::connection::open(o.audit.database_url);
        if (check && scratch) {  // an existing database holds more than this run's rows
            auto q = check.value()->query("SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM responses)");
            if (q) {
                std::printf("database: %s request rows, %s response rows\n", q.value().rows[0][0]->c_str(),
                            q.value().rows[0][1]->c_str());
            }
        }
    }
    pub.stop();
    if (scratch) {
        (void)admin.value()->exec("DROP DATABASE IF EXISTS " + db_name + " WITH (FORCE)");
    }
    return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"audit ingest benchmark: records/s and publish->commit lag", "llmproxy-audit-bench"};
    app.add_option("--amqp-url", o.amqp_url)->envname("LLMPROXY_AMQP_URL")->capture_default_str();
    app.add_option("--database-url", o.database_url)->envname("LLMPROXY_DATABASE_URL")->capture_default_str();
    app.add_option("--database", o.database,
                   "ingest into this existing database (kept; e.g. one holding a history, read by a monitor) "
                   "instead of a scratch one");
    app.add_option("--records", o.records, "records for the throughput phase")->capture_default_str();
    app.add_option("--rate", o.rate, "records/s offered in the lag phase")->capture_default_str();
    app.add_option("--lag-seconds", o.lag_seconds, "duration of the lag phase")->capture_default_str();
    app.add_flag("--transient", o.transient,
                 "publish non-persistent messages (comparison only: the API and workers publish audit copies "
                 "persistent, and nothing else survives a broker restart)");
    app.add_flag("--no-ack-baseline", o.no_ack_baseline,
                 "the baseline consumer takes its messages with no_ack (comparison only: the audit service "
                 "acks after COMMIT)");
    app.add_option("--batch-rows", o.audit.batch_rows)->capture_default_str();
    auto batch_ms = std::make_shared<std::int64_t>(o.audit.batch_time.count());
    app.add_option("--batch-ms", *batch_ms)->capture_default_str();
    app.add_option("--prefetch", o.audit.prefetch)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    o.audit.batch_time = std::chrono::milliseconds{*batch_ms};
    return run(o);
}
