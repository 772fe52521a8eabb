// The relay's outcome table (docs/architecture.md, "The relay"), one test per row, driven through
// a fake broker publisher and a fake client connection: no broker, no sockets. The relay's own
// intervals are shortened to milliseconds.

#include "api/relay.hpp"

#include "api/api_metrics.hpp"
#include "api/auth.hpp"
#include "api/background_bindings.hpp"
#include "api/response_sink.hpp"
#include "api/testing/fake_client_connection.hpp"
#include "api/testing/fake_request_publisher.hpp"
#include "http/error_response.hpp"
#include "keys/api_key.hpp"
#include "metrics/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace llmp::api {
namespace {

using namespace std::chrono_literals;
using testing::fake_client_connection;
using testing::fake_request_publisher;

/// A renderer that writes each event as one readable line, so a test reads what the client saw.
class recording_renderer final : public stream_renderer {
public:
    explicit recording_renderer(bool streaming) : streaming_{streaming} {}

    std::vector<llmp::error> failures;  ///< every failure() reply, in order
    std::string completed_text;         ///< the text of the one complete() reply
    std::string done_model;             ///< the model of the done event or the complete() reply

    bool streaming() const override { return streaming_; }
    std::string_view content_type() const override { return "text/test"; }
    void start(std::string& out, const request_message& m) override { out += "start " + m.model + "\n"; }
    void token(std::string& out, std::string_view text, std::int64_t seq) override {
        out += "token " + std::to_string(seq) + " " + std::string{text} + "\n";
    }
    void done(std::string& out, const final_message& f, const relay_timings&) override {
        done_model = f.model;
        out += "done " + f.done_reason + "\n";
    }
    void error(std::string& out, const error_message& e) override { out += "error " + e.code + "\n"; }
    void keepalive(std::string& out) override { out += "keepalive\n"; }
    http_server::response complete(const final_message& f, const std::string& text, const relay_timings&) override {
        completed_text = text;
        done_model = f.model;
        return http_server::response{http::status::ok, 11};
    }
    http_server::response failure(const llmp::error& e) override {
        failures.push_back(e);
        return http_server::error_response(e);
    }

private:
    bool streaming_;
};

worker_heartbeat heartbeat(const std::string& id) {
    worker_heartbeat hb;
    hb.worker_id = id;
    hb.models = {"mock:latest"};
    hb.concurrency = 4;
    return hb;
}

api_config test_config() {
    api_config c;
    c.relay.check_interval = 5ms;
    c.relay.worker_silence_limit = 60ms;
    c.relay.keepalive_interval = 1h;
    c.relay.publish_confirm_timeout = 50ms;
    c.stream_idle_timeout = 2s;
    c.max_stream_buffer = 64;
    return c;
}

/// test_config() for a test that confirms the publish by hand, however slow the machine.
api_config confirmed_by_hand() {
    auto c = test_config();
    c.relay.publish_confirm_timeout = 5s;
    return c;
}

/// One relay on a test io_context, with the fakes and a worker "w1" serving mock:latest.
struct relay_harness {
    explicit relay_harness(bool streaming = true, api_config c = test_config())
        : cfg{c}, out{streaming}, client{strand} {
        ctx.publisher = &publisher;
        ctx.metrics = &metrics;
        ctx.workers.update(heartbeat("w1"));
    }

    request_kind kind = request_kind::chat;                         ///< set before start()
    stream_resumability resumability = stream_resumability::plain;  ///< set before start()

    void start(client_request req = {}, std::string model = "mock",
               std::optional<background_relay> background = std::nullopt) {
        request_message m;
        m.model = std::move(model);
        m.kind = kind;
        if (kind == request_kind::embed) {
            m.input = nlohmann::json::array({"one", "two", "three"});
        }
        m.stream = out.streaming();
        req.route = "/api/chat";
        net::co_spawn(
            strand,
            [this, req = std::move(req), m = std::move(m),
             background = std::move(background)]() mutable -> net::awaitable<void> {
                {
                    relay r{ctx, client, out, std::move(req), std::move(m), std::move(background), resumability};
                    co_await r.run();
                }
                ended = true;
            },
            net::detached);
    }
    /// Starts a background request whose immediate reply only sets `replied`.
    void start_background(bool& replied) {
        start({}, "mock", background_relay{[&replied](const request_message&) {
                  replied = true;
                  return http_server::response{http::status::ok, 11};
              }});
    }
    /// Runs the io_context until `pred` holds (fails the test after 5 s: a hang is a bug).
    template <class Pred>
    void run_until(Pred pred) {
        auto give_up = std::chrono::steady_clock::now() + 5s;
        while (!pred() && std::chrono::steady_clock::now() < give_up) {
            ioc.run_one_for(10ms);
        }
        ASSERT_TRUE(pred()) << "timed out; the client saw: " << client.streamed;
    }
    void run_until_ended() {
        run_until([this] { return ended; });
    }
    /// Runs until the request is published, then returns its id.
    std::string published_id() {
        run_until([this] { return !publisher.requests.empty(); });
        return publisher.requests.empty() ? "" : publisher.requests.front().request_id;
    }
    /// What the worker sends, as the response consumer would hand it over.
    void worker_sends(sink_input ev) {
        auto sink = ctx.streams.find(published_id());
        ASSERT_TRUE(sink) << "no stream registered";
        sink->deliver(std::move(ev));
    }
    void chunk(std::int64_t seq, std::string text, std::string worker = "w1") {
        worker_sends(chunk_event{seq, std::move(text), std::move(worker)});
    }
    void final_message(std::string worker = "w1", std::int64_t tokens = 2) {
        llmp::final_message f;
        f.worker_id = std::move(worker);
        f.completion_tokens = tokens;
        f.text = "the final's text";
        worker_sends(std::move(f));
    }
    void error(std::string code) { worker_sends(error_message{std::move(code), "said the worker", false}); }
    /// Waits until the client has seen `text` on the stream.
    void until_streamed(const std::string& text) {
        run_until([&] { return client.streamed.find(text) != std::string::npos; });
    }
    std::uint64_t generations(std::string_view outcome) const {
        auto text = registry.render();
        auto line = "llmproxy_generations_total{outcome=\"" + std::string{outcome} + "\"} ";
        auto at = text.find(line);
        return at == std::string::npos ? 0 : std::stoull(text.substr(at + line.size()));
    }
    /// The one verdict's code (empty if none was published).
    std::string verdict() const { return publisher.verdicts.empty() ? "" : publisher.verdicts.back().second.code; }

    net::io_context ioc;
    net::strand<net::io_context::executor_type> strand{ioc.get_executor()};
    api_config cfg;
    metrics::registry registry;
    context ctx{cfg, "srv-test"};
    api_metrics metrics{registry, ctx.stats};
    fake_request_publisher publisher;
    recording_renderer out;
    fake_client_connection client;
    bool ended = false;
};

// --- admission: refused before anything is published -------------------------------------------

TEST(Relay, BadTimeoutHeaderIs400BeforeAnythingElse) {
    relay_harness h;
    h.publisher.up = false;  // the client's numbers are checked first
    client_request req;
    req.timeout_header = "soon";
    h.start(req);
    h.run_until_ended();
    ASSERT_TRUE(h.client.reply);
    EXPECT_EQ(h.client.reply->result_int(), 400);
    EXPECT_TRUE(h.publisher.requests.empty());
    EXPECT_EQ(h.generations("rejected"), 1u);
}

TEST(Relay, BrokerDownOnArrivalIsBrokerUnavailable) {
    relay_harness h;
    h.publisher.up = false;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");
    EXPECT_TRUE(h.out.failures[0].retryable);
    EXPECT_TRUE(h.publisher.requests.empty());
}

TEST(Relay, UnservedModelIsModelNotFoundNamingTheServedOnes) {
    relay_harness h;
    h.start({}, "llama3");
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "model_not_found");
    EXPECT_NE(h.out.failures[0].message.find("mock:latest"), std::string::npos) << h.out.failures[0].message;
    EXPECT_TRUE(h.publisher.requests.empty());
}

TEST(Relay, NoLiveWorkerIsNoWorkers) {
    relay_harness h;
    auto gone = heartbeat("w1");
    gone.leaving = true;
    h.ctx.workers.update(gone);
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "no_workers");
}

TEST(Relay, StreamCapReachedIsOverloaded) {
    auto c = test_config();
    c.max_streams = 1;
    relay_harness h{true, c};
    h.ctx.stats.streams_open = 1;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "overloaded");
}

// --- publishing: the broker's answer ------------------------------------------------------------

TEST(Relay, PublishedWithIdsDeadlineAndTheClientsPriority) {
    relay_harness h;
    client_request req;
    req.timeout_header = "1500";
    req.priority_header = "7";
    req.user_agent = "test-agent";
    req.remote_addr = "192.0.2.1";
    h.start(req);
    auto id = h.published_id();
    const auto& m = h.publisher.requests.front();
    EXPECT_EQ(id.size(), 36u);
    EXPECT_EQ(m.server_id, "srv-test");
    EXPECT_EQ(m.priority, 7);
    EXPECT_EQ(m.deadline_ms, m.received_at_ms + 1500);
    EXPECT_EQ(h.publisher.ttls_ms.front(), 1500);
    EXPECT_EQ(m.route, "/api/chat");
    EXPECT_EQ(m.user_agent, "test-agent");
    EXPECT_EQ(m.client_addr, "192.0.2.1");
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.client.header("X-Request-Id"), id);
}

// A background request: published under bg.<id>, answered at once with the route's reply once
// the broker confirmed it; nothing stays registered and no cancel follows the relay's end.
TEST(Relay, ABackgroundRequestIsPublishedUnderItsOwnIdAndAnsweredAtOnce) {
    relay_harness h{false};
    std::string replied_for;
    h.start({}, "mock", background_relay{[&replied_for](const request_message& m) {
                replied_for = m.request_id;
                return http_server::response{http::status::ok, 11};
            }});
    auto id = h.published_id();
    h.run_until_ended();
    EXPECT_EQ(h.publisher.requests.front().server_id, "bg." + id);
    EXPECT_EQ(replied_for, id);
    ASSERT_TRUE(h.client.reply);
    EXPECT_EQ(h.client.reply->result_int(), 200);
    EXPECT_EQ(h.client.header("X-Request-Id"), id);
    EXPECT_FALSE(h.ctx.streams.find(id));
    EXPECT_EQ(h.ctx.stats.streams_open.load(), 0);
    EXPECT_TRUE(h.publisher.cancels.empty());
    EXPECT_TRUE(h.publisher.verdicts.empty());
    EXPECT_EQ(h.generations("background"), 1u);
}

TEST(Relay, ABackgroundRequestTheBrokerRefusesIsAnErrorReply) {
    relay_harness h{false};
    h.publisher.next = fake_request_publisher::answer::nack;
    bool replied = false;
    h.start_background(replied);
    h.run_until_ended();
    EXPECT_FALSE(replied);
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "queue_full");
}

// Its client is told the request is queued, so only the broker's confirm says so (no chunk).
TEST(Relay, ABackgroundRequestWaitsForTheConfirmWhateverComesFirst) {
    relay_harness h{false};
    h.publisher.next = fake_request_publisher::answer::never;
    bool replied = false;
    h.start_background(replied);
    h.chunk(1, "Hel");
    h.run_until_ended();
    EXPECT_FALSE(replied);
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");
}

// A resumable stream binds bg.<id>.# before it publishes: a server that cannot bind (no
// bindings, or the consumer never answers) refuses with 503 and publishes nothing. (Its
// hang-up that cancels nothing needs the broker: compat_e2e's native_resumable_stream test.)
TEST(Relay, AResumableStreamThatCannotBindIsBrokerUnavailableAndUnpublished) {
    relay_harness h;
    h.resumability = stream_resumability::resumable;
    h.start();
    h.run_until_ended();
    EXPECT_TRUE(h.publisher.requests.empty());
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");

    relay_harness unanswered;
    std::vector<background_bindings::connection_job> jobs;  // the consumer never runs them
    background_bindings bindings{"q", "x",
                                 [&jobs](background_bindings::connection_job j) { jobs.push_back(std::move(j)); }};
    unanswered.ctx.bindings = &bindings;
    unanswered.resumability = stream_resumability::resumable;
    unanswered.start();
    unanswered.run_until_ended();
    EXPECT_TRUE(unanswered.publisher.requests.empty());
    ASSERT_EQ(unanswered.out.failures.size(), 1u);
    EXPECT_EQ(unanswered.out.failures[0].code, "broker_unavailable");
    EXPECT_EQ(jobs.size(), 2u) << "bound, then unbound when the relay ended";
}

TEST(Relay, NackIsQueueFullWithTheRequestId) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::nack;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "queue_full");
    EXPECT_FALSE(h.client.stream_started);
    EXPECT_EQ(h.client.header("X-Request-Id"), h.publisher.requests.front().request_id);
    EXPECT_EQ(h.ctx.streams.size(), 0u);
    EXPECT_EQ(h.ctx.stats.streams_open.load(), 0);
}

TEST(Relay, BrokerLostWhilePublishingIsBrokerUnavailable) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::broker_lost;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");
}

TEST(Relay, NoConfirmInTimeIsBrokerUnavailable) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");
    EXPECT_NE(h.out.failures[0].message.find("did not confirm"), std::string::npos);
}

// The broker confirms a persistent message once it is on disk; under load that comes after the
// worker's first token. A chunk is proof the broker routed the request: the stream starts then.
// Its end waits for the confirm: a nack would mean the audit's copy of the request was refused.
TEST(Relay, AStreamStartsAtItsWorkersFirstChunkAndEndsOnceTheBrokerConfirms) {
    relay_harness h{true, confirmed_by_hand()};
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.chunk(1, "Hel");
    h.until_streamed("token 1 Hel");
    h.final_message();
    h.ioc.poll();
    EXPECT_FALSE(h.ended) << "the answer ended the stream before the broker confirmed the request";
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 Hel\n");
    h.publisher.unanswered(publish_outcome::confirmed);
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 Hel\ndone stop\n");
    EXPECT_TRUE(h.out.failures.empty());
    EXPECT_TRUE(h.publisher.cancels.empty());
    EXPECT_EQ(h.publisher.confirmed_deliveries.size(), 1u);
    EXPECT_EQ(h.generations("completed"), 1u);
}

// The model's time to first token is the queue wait + prefill from the publish, also for a stream
// that started on its chunk: that chunk ends the relay's wait for the confirm, not the clock.
TEST(Relay, AStreamStartedOnItsChunkCountsTheModelsTimeToFirstTokenFromThePublish) {
    relay_harness h{true, confirmed_by_hand()};
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.published_id();
    std::this_thread::sleep_for(40ms);  // the worker's queue wait and prefill: a lower bound, not a guess
    h.chunk(1, "Hel");
    h.until_streamed("token 1 Hel");
    auto text = h.registry.render();
    const std::string line = "llmproxy_model_time_to_first_token_seconds_sum{model=\"mock:latest\"} ";
    auto at = text.find(line);
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_GE(std::stod(text.substr(at + line.size())), 0.040) << text;
    h.publisher.unanswered(publish_outcome::confirmed);
    h.final_message();
    h.run_until_ended();
}

TEST(Relay, ANackAfterTheFirstChunkEndsTheStreamWithQueueFullAndCancels) {
    relay_harness h{true, confirmed_by_hand()};
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.chunk(1, "Hel");
    h.until_streamed("token 1 Hel");
    h.publisher.unanswered(publish_outcome::queue_full);
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 Hel\nerror queue_full\n");
    EXPECT_EQ(h.publisher.cancels.size(), 1u) << "the worker stops generating";
    EXPECT_EQ(h.verdict(), "queue_full") << "the audit hears what the client was told";
}

TEST(Relay, AFinalWithNoConfirmInTimeEndsAsBrokerUnavailable) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.chunk(1, "Hel");
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 Hel\nerror broker_unavailable\n");
    EXPECT_EQ(h.verdict(), "broker_unavailable");
}

// A worker's error proves as much, but an error may as well come from this server (shutdown, the
// response queue lost), so only chunks and finals stand in for the confirm.
TEST(Relay, AnErrorBeforeTheConfirmIsNoProofOfThePublish) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::never;
    h.start();
    h.error("model_failed");
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "broker_unavailable");
    EXPECT_TRUE(h.client.streamed.empty());
}

TEST(Relay, PublisherQueueFullIsOverloaded) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::refuse;
    h.start();
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "overloaded");
}

// --- the stream: how it ends --------------------------------------------------------------------

TEST(Relay, FinalMessageEndsTheStreamWithDone) {
    relay_harness h;
    h.start();
    h.chunk(1, "Hel");
    h.chunk(2, "lo");
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 Hel\ntoken 2 lo\ndone stop\n");
    EXPECT_TRUE(h.client.finished);
    EXPECT_TRUE(h.publisher.cancels.empty());
    EXPECT_TRUE(h.publisher.verdicts.empty());
    EXPECT_EQ(h.publisher.confirmed_deliveries, std::vector<std::string>{h.publisher.requests.front().request_id})
        << "the worker's outcome reached the client: the audit is told so";
    EXPECT_EQ(h.generations("completed"), 1u);
    EXPECT_EQ(h.ctx.stats.completed.load(), 1);
    EXPECT_EQ(h.ctx.streams.size(), 0u);
}

TEST(Relay, AFinalTheClientCouldNotBeWrittenIsAVerdictNotAConfirmation) {
    relay_harness h;
    h.start();
    h.published_id();
    h.client.write_error = net::error::connection_reset;
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.verdict(), "cancelled");
    EXPECT_TRUE(h.publisher.confirmed_deliveries.empty());
}

TEST(Relay, NonStreamedReplyIsTheJoinedText) {
    relay_harness h{false};
    h.start();
    h.chunk(1, "Hel");
    h.chunk(2, "lo");
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.out.completed_text, "Hello");
    ASSERT_TRUE(h.client.reply);
    EXPECT_EQ(h.client.reply->result_int(), 200);
    EXPECT_FALSE(h.client.stream_started);
    EXPECT_EQ(h.publisher.confirmed_deliveries.size(), 1u);
}

TEST(Relay, MetricsAreCountedBeforeTheReplyGoesOut) {
    relay_harness h{false};
    std::uint64_t completed_when_sent = 0;
    h.client.on_send = [&] { completed_when_sent = h.generations("completed"); };
    h.start();
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(completed_when_sent, 1u) << "a client reading /metrics after its reply must find it counted";
    EXPECT_EQ(h.generations("completed"), 1u) << "counted once";
}

TEST(Relay, RefusalsAreCountedBeforeTheReplyGoesOut) {
    relay_harness h;
    h.publisher.next = fake_request_publisher::answer::nack;
    std::uint64_t rejected_when_sent = 0;
    h.client.on_send = [&] { rejected_when_sent = h.generations("rejected"); };
    h.start();
    h.run_until_ended();
    EXPECT_EQ(rejected_when_sent, 1u);
    EXPECT_EQ(h.generations("rejected"), 1u);
}

TEST(Relay, NonStreamedReplyWithoutChunksTakesTheFinalsText) {
    relay_harness h{false};
    h.start();
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.out.completed_text, "the final's text");
}

TEST(Relay, DuplicateChunksAreRelayedOnce) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.chunk(1, "a");
    h.chunk(3, "bc");  // a coalesced chunk: two tokens
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\ntoken 3 bc\ndone stop\n");
    EXPECT_NE(h.registry.render().find("llmproxy_tokens_relayed_total 3"), std::string::npos);
}

TEST(Relay, WorkerErrorIsRelayedWithoutCancel) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.error("upstream_error");
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror upstream_error\n");
    EXPECT_TRUE(h.publisher.cancels.empty());
    EXPECT_TRUE(h.publisher.verdicts.empty());
    EXPECT_EQ(h.publisher.confirmed_deliveries.size(), 1u) << "the worker's error is what the client saw";
    EXPECT_EQ(h.generations("worker_error"), 1u);
}

TEST(Relay, NonStreamedWorkerErrorIsAnErrorReply) {
    relay_harness h{false};
    h.start();
    h.error("worker_lost");
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "worker_lost");
    EXPECT_EQ(h.client.header("X-Request-Id"), h.publisher.requests.front().request_id);
}

TEST(Relay, ClientGoneBeforeTheFirstTokenCancelsTheWorker) {
    relay_harness h;
    h.start();
    auto id = h.published_id();
    h.run_until([&] { return h.client.watched(); });
    h.client.hang_up();
    h.run_until_ended();
    EXPECT_EQ(h.publisher.cancels, std::vector<std::string>{id});
    EXPECT_EQ(h.verdict(), "cancelled");
    EXPECT_EQ(h.publisher.verdicts.back().second.completion_tokens, 0);
    EXPECT_EQ(h.generations("client_gone"), 1u);
    EXPECT_FALSE(h.client.finished);
    EXPECT_TRUE(h.client.closed) << "the connection is closed, not kept for a next request";
}

TEST(Relay, ClientGoneAfterTheFirstTokenCancelsWithWhatWasSent) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.chunk(2, "b");
    h.until_streamed("token 2 b");
    h.client.hang_up();
    h.run_until_ended();
    ASSERT_EQ(h.publisher.cancels.size(), 1u);
    EXPECT_EQ(h.verdict(), "cancelled");
    EXPECT_EQ(h.publisher.verdicts.back().second.completion_tokens, 2);
    EXPECT_EQ(h.publisher.verdicts.back().second.worker_id, "w1");
    EXPECT_EQ(h.generations("client_gone"), 1u);
}

TEST(Relay, ClientGoneBeforeTheStreamHeadCancels) {
    relay_harness h;
    h.client.start_error = net::error::broken_pipe;
    h.start();
    h.run_until_ended();
    EXPECT_EQ(h.publisher.cancels.size(), 1u);
    EXPECT_EQ(h.verdict(), "cancelled");
    EXPECT_EQ(h.generations("client_gone"), 1u);
    EXPECT_TRUE(h.publisher.confirmed_deliveries.empty()) << "a verdict, never both";
}

TEST(Relay, FailedWriteIsAClientGone) {
    relay_harness h;
    h.start();
    h.published_id();
    h.client.write_error = net::error::connection_reset;
    h.chunk(1, "a");
    h.run_until_ended();
    EXPECT_EQ(h.verdict(), "cancelled");
    EXPECT_EQ(h.generations("client_gone"), 1u);
}

TEST(Relay, DeadlineEndsWithTimeoutAndCancels) {
    relay_harness h;
    client_request req;
    req.timeout_header = "30";
    h.start(req);
    h.chunk(1, "a");
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror timeout\n");
    EXPECT_EQ(h.publisher.cancels.size(), 1u);
    EXPECT_EQ(h.verdict(), "timeout");
    EXPECT_NE(h.publisher.verdicts.back().second.message.find("deadline of 30 ms"), std::string::npos);
    EXPECT_EQ(h.generations("timeout"), 1u);
}

TEST(Relay, IdleTimeoutEndsWithTimeoutAndCancels) {
    auto c = test_config();
    c.stream_idle_timeout = 30ms;
    c.relay.worker_silence_limit = 1h;
    relay_harness h{true, c};
    h.start();
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\nerror timeout\n");
    EXPECT_EQ(h.verdict(), "timeout");
    EXPECT_NE(h.publisher.verdicts.back().second.message.find("no response from a worker"), std::string::npos);
}

TEST(Relay, RedeliveryAfterTokensIsWorkerLost) {
    relay_harness h;
    h.start();
    h.chunk(1, "a", "w1");
    h.until_streamed("token 1 a");
    h.chunk(1, "x", "w2");  // the request came back to another worker: w1 died
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror worker_lost\n");
    EXPECT_EQ(h.publisher.cancels.size(), 1u);  // w2 need not generate for nobody
    EXPECT_EQ(h.verdict(), "worker_lost");
    EXPECT_EQ(h.generations("worker_lost"), 1u);
}

TEST(Relay, RedeliveryBeforeTheFirstChunkIsAnsweredByTheNewWorker) {
    relay_harness h;
    h.ctx.workers.update(heartbeat("w2"));
    h.start();
    h.chunk(1, "x", "w2");  // w1 took the request and died before its first chunk
    h.final_message("w2", 1);
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 x\ndone stop\n");
    EXPECT_TRUE(h.publisher.cancels.empty());
}

TEST(Relay, SilentWorkerWithoutHeartbeatIsWorkerLost) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.run_until_ended();  // w1's heartbeat is never renewed: after 60 ms of silence it is gone
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror worker_lost\n");
    EXPECT_EQ(h.verdict(), "worker_lost");
}

TEST(Relay, BrokerLostMidStreamIsRelayedWithoutCancel) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.worker_sends(error_message{"broker_unavailable", "the response queue was lost", true});
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror broker_unavailable\n");
    EXPECT_TRUE(h.publisher.cancels.empty());
    EXPECT_EQ(h.generations("broker_unavailable"), 1u);
}

TEST(Relay, ShutdownCancelsTheWorkerAndTellsTheAudit) {
    relay_harness h;
    h.start();
    h.chunk(1, "a");
    h.worker_sends(error_message{"shutting_down", "the server is shutting down", true});
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed, "start mock\ntoken 1 a\nerror shutting_down\n");
    EXPECT_EQ(h.publisher.cancels.size(), 1u);
    EXPECT_EQ(h.verdict(), "shutting_down");
    EXPECT_EQ(h.generations("shutting_down"), 1u);
}

TEST(Relay, OverflowingClientIsCutWithoutAClosingEvent) {
    relay_harness h;
    h.start();
    h.published_id();
    h.client.stop_reading = true;
    h.run_until([&] { return h.client.write_pending; });  // the stream's head: blocked
    h.chunk(1, std::string(40, 'a'));
    h.chunk(2, std::string(40, 'b'));  // 80 bytes undrained > the 64-byte cap
    h.run_until_ended();
    EXPECT_TRUE(h.client.cancelled_write);
    EXPECT_TRUE(h.client.closed);
    EXPECT_FALSE(h.client.finished);
    EXPECT_EQ(h.client.streamed.find("error"), std::string::npos);
    EXPECT_EQ(h.verdict(), "client_too_slow");
    EXPECT_EQ(h.publisher.cancels.size(), 1u);
    EXPECT_EQ(h.generations("client_too_slow"), 1u);
    EXPECT_EQ(h.ctx.streams.size(), 0u);
}

TEST(Relay, WriteWithoutProgressIsClientTooSlow) {
    relay_harness h;
    h.start();
    h.published_id();
    h.client.write_error = beast::error::timeout;
    h.chunk(1, "a");
    h.run_until_ended();
    EXPECT_TRUE(h.client.closed);
    EXPECT_EQ(h.verdict(), "client_too_slow");
}

TEST(Relay, KeepaliveWhileTheModelLoads) {
    auto c = test_config();
    c.relay.keepalive_interval = 20ms;
    relay_harness h{true, c};
    h.start();
    h.until_streamed("keepalive");
    h.final_message();
    h.run_until_ended();
    EXPECT_EQ(h.client.streamed.rfind("done stop\n"), h.client.streamed.size() - 10);
}

// --- the API key reaches the audit ---------------------------------------------------------------

TEST(Relay, TheAdmittingKeysIdAndNameGoIntoTheRequestAndTheVerdict) {
    key_ring ring;
    auto k = keys::generate_key();
    keys::stored_key s;
    s.hash = k.hash;
    s.key.id = "0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01";
    s.key.name = "team-a";
    ring.replace({s});
    relay_harness h;
    h.ctx.keys = &ring;
    client_request req;
    req.authorization = "Bearer " + k.plaintext;
    h.start(req);
    h.published_id();
    const auto& m = h.publisher.requests.front();
    EXPECT_EQ(m.key_id, s.key.id);
    EXPECT_EQ(m.key_name, "team-a");
    h.run_until([&] { return h.client.watched(); });
    h.client.hang_up();
    h.run_until_ended();
    ASSERT_EQ(h.verdict(), "cancelled");
    EXPECT_EQ(h.publisher.verdicts.back().second.key_id, s.key.id);
    EXPECT_EQ(h.publisher.verdicts.back().second.key_name, "team-a");
}

TEST(Relay, WithoutKeysTheRequestNamesNone) {
    relay_harness h;
    client_request req;
    req.authorization = "Bearer llmp_anything";  // --auth none: not even looked at
    h.start(req);
    h.published_id();
    EXPECT_TRUE(h.publisher.requests.front().key_id.empty());
    EXPECT_TRUE(h.publisher.requests.front().key_name.empty());
    h.final_message();
    h.run_until_ended();
}

// --- model aliases (api/model_aliases.hpp) ------------------------------------------------------

api_config aliased_config() {
    auto c = test_config();
    c.aliases = model_aliases::parse({"gpt-4o-mini=mock", "ghost=llama3"}).value();
    return c;
}

TEST(Relay, AnAliasIsQueuedForItsModelAndTheClientSeesTheAlias) {
    for (bool streaming : {true, false}) {
        relay_harness h{streaming, aliased_config()};
        h.start({}, "gpt-4o-mini");
        h.published_id();
        const auto& m = h.publisher.requests.front();
        EXPECT_EQ(m.model, "mock:latest") << "the routing key is the served model";
        EXPECT_EQ(m.model_alias, "gpt-4o-mini") << "the audit gets both";
        llmp::final_message f;
        f.worker_id = "w1";
        f.model = "mock:latest";  // what the worker says it ran
        h.worker_sends(std::move(f));
        h.run_until_ended();
        EXPECT_EQ(h.out.done_model, "gpt-4o-mini") << (streaming ? "streamed" : "one reply");
        // The per-model metrics are the served model's.
        auto text = h.registry.render();
        EXPECT_NE(text.find("llmproxy_model_generations_total{model=\"mock:latest\"} 1"), std::string::npos) << text;
        EXPECT_NE(text.find("llmproxy_model_waiting{model=\"mock:latest\"} 0"), std::string::npos) << text;
    }
}

TEST(Relay, AModelsWaitingCountHoldsAQueuedRequestUntilItsFirstToken) {
    relay_harness h;
    h.start();
    h.published_id();
    h.run_until([&] {
        return h.registry.render().find("llmproxy_model_waiting{model=\"mock:latest\"} 1") != std::string::npos;
    });
    h.chunk(1, "a");
    h.until_streamed("token 1 a");
    auto text = h.registry.render();
    EXPECT_NE(text.find("llmproxy_model_waiting{model=\"mock:latest\"} 0"), std::string::npos) << text;
    EXPECT_NE(text.find("llmproxy_model_time_to_first_token_seconds_count{model=\"mock:latest\"} 1"), std::string::npos)
        << text;
    h.final_message();
    h.run_until_ended();
    text = h.registry.render();
    EXPECT_NE(text.find("llmproxy_model_tokens_total{model=\"mock:latest\"} 1"), std::string::npos) << text;
}

TEST(Relay, EmbeddingsHaveTheirOwnCountsAndAreNoGenerations) {
    relay_harness h{false};
    h.kind = request_kind::embed;
    h.start();
    h.published_id();
    llmp::final_message f;
    f.worker_id = "w1";
    f.prompt_tokens = 12;
    f.embeddings = nlohmann::json::array({{0.5}, {0.25}, {1.0}});
    h.worker_sends(std::move(f));
    h.run_until_ended();
    auto text = h.registry.render();
    EXPECT_NE(text.find("llmproxy_embeddings_total{model=\"mock:latest\",outcome=\"completed\"} 1"), std::string::npos)
        << text;
    EXPECT_NE(text.find("llmproxy_embedding_inputs_total{model=\"mock:latest\"} 3"), std::string::npos) << text;
    EXPECT_NE(text.find("llmproxy_embedding_tokens_total{model=\"mock:latest\"} 12"), std::string::npos) << text;
    EXPECT_NE(text.find("llmproxy_model_waiting{model=\"mock:latest\"} 0"), std::string::npos) << text;
    EXPECT_NE(text.find("llmproxy_model_generations_total{model=\"mock:latest\"} 0"), std::string::npos) << text;
    EXPECT_NE(text.find("llmproxy_generations_total{outcome=\"completed\"} 0"), std::string::npos) << text;
}

TEST(Relay, AnAliasOfAModelNobodyServesIsModelNotFoundNamingBoth) {
    relay_harness h{true, aliased_config()};
    h.start({}, "ghost");
    h.run_until_ended();
    ASSERT_EQ(h.out.failures.size(), 1u);
    EXPECT_EQ(h.out.failures[0].code, "model_not_found");
    EXPECT_NE(h.out.failures[0].message.find("'ghost' (alias of 'llama3:latest')"), std::string::npos)
        << h.out.failures[0].message;
}

TEST(Relay, AKeysAllowedModelsMatchTheAliasTarget) {
    key_ring ring;
    auto k = keys::generate_key();
    keys::stored_key s;
    s.hash = k.hash;
    s.key.id = "k-alias";
    s.key.name = "team-a";
    s.key.allowed_models = {"mock*"};
    ring.replace({s});
    client_request req;
    req.authorization = "Bearer " + k.plaintext;

    relay_harness allowed{true, aliased_config()};
    allowed.ctx.keys = &ring;
    allowed.start(req, "gpt-4o-mini");  // an alias of mock:latest, which the key may use
    allowed.published_id();
    allowed.final_message();
    allowed.run_until_ended();
    EXPECT_TRUE(allowed.out.failures.empty());

    s.key.allowed_models = {"gpt-4o-mini"};  // the alias's name alone does not open its model
    ring.replace({s});
    relay_harness refused{true, aliased_config()};
    refused.ctx.keys = &ring;
    refused.start(req, "gpt-4o-mini");
    refused.run_until_ended();
    ASSERT_EQ(refused.out.failures.size(), 1u);
    EXPECT_EQ(refused.out.failures[0].code, "model_not_allowed");
}

}  // namespace
}  // namespace llmp::api

// --- API keys with limits (limits/limiter.hpp) ----------------------------------------------------

namespace llmp::api {
namespace {

struct limited_key {
    limited_key() {
        keys::stored_key k;
        k.hash = keys::hash_key(plaintext);
        k.key.id = "k1";
        k.key.name = "team-a";
        k.key.limits.requests_per_minute = 1;
        k.key.limits.priority_ceiling = 2;
        ring.replace({k});
    }
    void attach(relay_harness& h) {
        h.ctx.keys = &ring;
        h.ctx.limiter = &limiter;
    }
    const std::string plaintext = "llmp_relay-test-key";
    key_ring ring;
    std::int64_t now = 1'796'590'815'000;  // 15 s into a minute
    limits::limiter limiter{{}, nullptr, [this] { return now; }};
};

TEST(Relay, AKeysLimitsGoWithEveryReplyAndRefuseWith429PastThem) {
    limited_key key;
    relay_harness first;
    key.attach(first);
    client_request req;
    req.key = key.ring.find(key.plaintext);  // as the route wrapper hands it over
    req.priority_header = "9";
    first.start(req);
    first.chunk(1, "hi");
    first.final_message();
    first.run_until_ended();
    EXPECT_EQ(first.publisher.requests.front().priority, 2) << "lowered to the key's ceiling";
    auto headers = first.client.stream_headers;
    auto has = [&](const std::string& n, const std::string& v) {
        return std::find(headers.begin(), headers.end(), std::pair<std::string, std::string>{n, v}) != headers.end();
    };
    EXPECT_TRUE(has("x-ratelimit-limit-requests", "1"));
    EXPECT_TRUE(has("x-ratelimit-remaining-requests", "0"));
    EXPECT_TRUE(has("x-ratelimit-reset-requests", "45s"));

    relay_harness second;
    key.attach(second);
    client_request by_header;  // no wrapper in front: the relay looks the key up itself
    by_header.authorization = "Bearer " + key.plaintext;
    second.start(by_header);
    second.run_until_ended();
    ASSERT_TRUE(second.client.reply);
    EXPECT_EQ(second.client.reply->result_int(), 429);
    EXPECT_EQ((*second.client.reply)[http::field::retry_after], "45");
    EXPECT_EQ((*second.client.reply)["x-ratelimit-remaining-requests"], "0");
    ASSERT_EQ(second.out.failures.size(), 1u);
    EXPECT_EQ(second.out.failures[0].code, "rate_limit_exceeded");
    EXPECT_NE(second.out.failures[0].message.find("1 requests per minute"), std::string::npos);
    EXPECT_TRUE(second.publisher.requests.empty());
    EXPECT_EQ(second.generations("rejected"), 1u);

    // The next minute: admitted again.
    key.now += 45'000;
    relay_harness third;
    key.attach(third);
    third.start(by_header);
    third.final_message();
    third.run_until_ended();
    EXPECT_FALSE(third.client.reply && third.client.reply->result_int() == 429);
}

}  // namespace
}  // namespace llmp::api
