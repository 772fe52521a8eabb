// The rules of one generation (docs/architecture.md, "Threading" and "Messages and topology"),
// played against a fake host and a scripted provider: no broker, no sockets.
#include "worker/generation_task.hpp"

#include "broker/topology.hpp"
#include "worker/testing/fake_task_host.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

namespace llmp::worker {
namespace {

using providers::testing::fake_generation;

constexpr std::uint64_t tag = 42;

request_message chat_request() {
    request_message r;
    r.request_id = "req-1";
    r.server_id = "api-1";
    r.model = "fake:latest";
    r.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
    return r;
}

class generation_task_test : public ::testing::Test {
protected:
    /// Starts a task for `req` as worker_service::dispatch does.
    std::shared_ptr<generation_task> start(request_message req = chat_request(), std::int64_t attempt = 1) {
        auto t = make(std::move(req), attempt);
        t->start();
        return t;
    }
    std::shared_ptr<generation_task> make(request_message req = chat_request(), std::int64_t attempt = 1) {
        auto t = std::make_shared<generation_task>(host_, std::move(req), task_origin{7, tag, attempt});
        t->set_metrics(&model_);
        return t;
    }
    fake_generation& gen() { return host_.fake_provider().last(); }
    std::uint64_t outcome(generation_outcome o) const { return model_.outcomes[static_cast<std::size_t>(o)]->value(); }
    const broker::publish_job& last_job() const { return host_.published.back(); }
    error_message last_error() const {
        auto m = decode_error(last_job().msg.body);
        EXPECT_TRUE(m) << last_job().msg.body;
        return m ? m.value() : error_message{};
    }
    /// The broker's answer to the last message published.
    void confirm_last(broker::publish_status s = broker::publish_status::confirmed) {
        auto done = std::move(host_.published.back().done);
        ASSERT_TRUE(done);
        done(s);
    }
    std::size_t published_to(const std::string& key) const {
        std::size_t n = 0;
        for (const auto& j : host_.published) {
            n += j.msg.routing_key == key ? 1 : 0;
        }
        return n;
    }

    testing::fake_task_host host_;
    metrics::registry registry_;
    std::atomic<int> in_flight_{0};
    worker_metrics metrics_{registry_, in_flight_};
    model_metrics& model_ = metrics_.for_model("fake:latest");
};

TEST_F(generation_task_test, each_token_becomes_a_chunk_for_the_owning_api_server) {
    auto t = start();
    gen().token("Hel");
    gen().token("lo");
    ASSERT_EQ(host_.published.size(), 2u);
    const auto& c = host_.published[1];
    EXPECT_TRUE(c.multiplex) << "a frame of the next message to that API server (broker/chunk_mux.hpp)";
    EXPECT_FALSE(c.coalesce);
    // The destination is the stream's, made once and shared by its chunks.
    ASSERT_TRUE(c.stream);
    EXPECT_EQ(c.stream, host_.published[0].stream) << "one destination object per stream, not per token";
    EXPECT_EQ(c.stream->exchange, "test.responses");
    EXPECT_EQ(c.stream->routing_key, broker::chunks_key("api-1"));
    EXPECT_TRUE(c.stream->mandatory) << "a chunk for a gone API server must come back so the worker stops";
    EXPECT_EQ(c.stream->props.correlation_id, "req-1");
    EXPECT_EQ(broker::field_string(c.stream->props.headers, "worker"), "w-test");
    EXPECT_EQ(c.msg.body, "lo");
    EXPECT_EQ(c.seq, 2);
    EXPECT_EQ(c.attempt, 1);
    EXPECT_FALSE(c.done) << "chunks are not confirmed one by one";
    EXPECT_TRUE(host_.acked.empty());
    EXPECT_EQ(model_.tokens->value(), 2u);
}

TEST_F(generation_task_test, without_multiplexing_each_token_is_a_raw_chunk_message_of_its_stream) {
    host_.mutable_settings().multiplex_chunks = false;
    auto t = start();
    gen().token("Hel");
    gen().token("lo");
    ASSERT_EQ(host_.published.size(), 2u);
    const auto& c = host_.published[1];
    EXPECT_EQ(c.msg.routing_key, broker::chunk_key("api-1"));
    EXPECT_TRUE(c.coalesce);
    EXPECT_FALSE(c.multiplex);
    EXPECT_TRUE(c.msg.mandatory);
    EXPECT_EQ(c.msg.props.correlation_id, "req-1");
    EXPECT_EQ(c.msg.body, "lo");
    EXPECT_EQ(broker::field_int(c.msg.props.headers, "seq", 0), 2);
    EXPECT_EQ(broker::field_string(c.msg.props.headers, "worker"), "w-test");
    EXPECT_EQ(broker::field_int(c.msg.props.headers, "attempt", 0), 1);
}

TEST_F(generation_task_test, acks_only_after_the_final_is_confirmed) {
    auto t = start();
    gen().token("Hel");
    gen().token("lo");
    providers::completion c;
    c.prompt_tokens = 3;
    gen().complete(c);
    ASSERT_EQ(published_to(broker::final_key("api-1")), 1u);
    const auto& f = last_job().msg;
    EXPECT_TRUE(f.mandatory);
    EXPECT_TRUE(f.props.persistent) << "the audit copy must survive a broker restart";
    EXPECT_EQ(f.props.message_id, "req-1");
    auto final_msg = decode_final(f.body);
    ASSERT_TRUE(final_msg);
    EXPECT_EQ(final_msg.value().text, "Hello");
    EXPECT_EQ(final_msg.value().completion_tokens, 2) << "counted when the provider does not say";
    EXPECT_EQ(final_msg.value().prompt_tokens, 3);
    EXPECT_EQ(final_msg.value().worker_id, "w-test");
    EXPECT_EQ(final_msg.value().provider, "fake");

    EXPECT_TRUE(host_.acked.empty()) << "not before the broker has the final";
    EXPECT_TRUE(host_.ended.empty()) << "a draining worker waits for the confirm";
    EXPECT_EQ(host_.generations_ended, 1) << "its generation slot is free before the confirm";
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
    EXPECT_EQ(host_.ended, std::vector<std::string>{"req-1"});
    EXPECT_EQ(host_.ended_tokens, 2);
    EXPECT_EQ(host_.generations_ended, 1);
    EXPECT_TRUE(host_.requeued.empty());
    EXPECT_EQ(outcome(generation_outcome::completed), 1u);
}

// n > 1: choice i's tokens are frames of choice i (same stream, seq counting every choice's),
// its text gathered for the final; the provider's per-choice ends merge with it.
TEST_F(generation_task_test, several_choices_are_framed_by_index_and_gathered_in_the_final) {
    auto req = chat_request();
    req.extra["n"] = 3;
    auto t = start(req);
    ASSERT_TRUE(gen().has_choice_callback());
    gen().token("A");
    gen().choice_token(1, "B");
    gen().choice_token(2, "C");
    gen().choice_token(1, "b");
    gen().choice_token(3, "not asked for");
    ASSERT_EQ(host_.published.size(), 4u);
    EXPECT_EQ(host_.published[0].choice, 0);
    EXPECT_EQ(host_.published[1].choice, 1);
    EXPECT_EQ(host_.published[2].choice, 2);
    EXPECT_EQ(host_.published[3].seq, 4);
    EXPECT_EQ(host_.published[3].msg.body, "b");
    providers::completion c;
    c.done_reason = "length";
    c.completion_tokens = 4;
    choice_outcome two;
    two.index = 2;
    two.tool_calls =
        nlohmann::json::parse(R"([{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}])");
    c.choices = {two};
    gen().complete(c);
    auto f = decode_final(last_job().msg.body);
    ASSERT_TRUE(f);
    EXPECT_EQ(f.value().text, "A");
    EXPECT_EQ(f.value().done_reason, "length");
    ASSERT_EQ(f.value().choices.size(), 2u);
    EXPECT_EQ(f.value().choices[0].index, 1);
    EXPECT_EQ(f.value().choices[0].text, "Bb");
    EXPECT_EQ(f.value().choices[0].done_reason, "stop");
    EXPECT_EQ(f.value().choices[1].text, "C");
    EXPECT_EQ(f.value().choices[1].done_reason, "tool_calls");
    EXPECT_EQ(f.value().choices[1].tool_calls, two.tool_calls);
}

TEST_F(generation_task_test, without_multiplexing_a_choice_rides_in_a_header) {
    host_.mutable_settings().multiplex_chunks = false;
    auto req = chat_request();
    req.extra["n"] = 2;
    auto t = start(req);
    gen().token("A");
    gen().choice_token(1, "B");
    ASSERT_EQ(host_.published.size(), 2u);
    EXPECT_EQ(broker::field_int(host_.published[0].msg.props.headers, "choice", -1), -1) << "absent for choice 0";
    EXPECT_EQ(broker::field_int(host_.published[1].msg.props.headers, "choice", 0), 1);
}

TEST_F(generation_task_test, tool_calls_ride_in_the_final_with_done_reason_tool_calls) {
    auto t = start();
    providers::completion c;
    c.done_reason = "stop";  // what Ollama says of a call
    c.tool_calls = nlohmann::json::parse(
        R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
    gen().complete(c);
    ASSERT_EQ(published_to(broker::final_key("api-1")), 1u);
    auto final_msg = decode_final(last_job().msg.body);
    ASSERT_TRUE(final_msg);
    EXPECT_EQ(final_msg.value().tool_calls, c.tool_calls);
    EXPECT_EQ(final_msg.value().done_reason, "tool_calls");
    EXPECT_EQ(final_msg.value().text, "");
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
}

TEST_F(generation_task_test, embedding_vectors_ride_in_the_final_with_the_input_tokens) {
    auto t = start();
    providers::completion c;
    c.prompt_tokens = 5;
    c.embeddings = nlohmann::json::parse("[[0.5,-0.5],[1.0,0.0]]");
    gen().complete(c);
    ASSERT_EQ(published_to(broker::final_key("api-1")), 1u);
    auto final_msg = decode_final(last_job().msg.body);
    ASSERT_TRUE(final_msg);
    EXPECT_EQ(final_msg.value().embeddings, c.embeddings);
    EXPECT_EQ(final_msg.value().prompt_tokens, 5);
    EXPECT_EQ(final_msg.value().completion_tokens, 0);
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
}

TEST_F(generation_task_test, a_nacked_final_is_retried_then_the_request_is_requeued_never_acked) {
    auto t = start();
    gen().token("x");
    gen().complete();
    for (int i = 0; i < host_.settings().final_publish_attempts; ++i) {
        ASSERT_EQ(published_to(broker::final_key("api-1")), static_cast<std::size_t>(i + 1));
        confirm_last(i % 2 == 0 ? broker::publish_status::nacked : broker::publish_status::broker_unavailable);
        host_.run_ready();
    }
    EXPECT_EQ(published_to(broker::final_key("api-1")), 3u);
    EXPECT_TRUE(host_.acked.empty());
    EXPECT_EQ(host_.requeued, std::vector<std::uint64_t>{tag}) << "another attempt answers the client";
    EXPECT_EQ(host_.ended, std::vector<std::string>{"req-1"});
}

TEST_F(generation_task_test, a_final_confirmed_on_retry_is_acked_once) {
    auto t = start();
    gen().complete();
    confirm_last(broker::publish_status::nacked);
    host_.run_ready();
    ASSERT_EQ(published_to(broker::final_key("api-1")), 2u);
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
    EXPECT_TRUE(host_.requeued.empty());
    EXPECT_EQ(host_.ended.size(), 1u);
}

TEST_F(generation_task_test, a_final_refused_by_a_full_publish_queue_is_retried) {
    auto t = start();
    host_.refuse_publish = true;
    gen().complete();
    EXPECT_EQ(host_.refused, 1);
    host_.refuse_publish = false;
    host_.run_ready();
    ASSERT_EQ(published_to(broker::final_key("api-1")), 1u);
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
}

TEST_F(generation_task_test, cancel_stops_the_upstream_and_answers_cancelled_with_the_partial_text) {
    auto t = start();
    gen().token("par");
    gen().token("tial");
    t->cancel("client went away");
    EXPECT_EQ(gen().cancels(), 1);
    host_.run_ready();  // the provider ends the generation with on_error("cancelled")
    ASSERT_EQ(published_to(broker::error_key("api-1")), 1u);
    auto e = last_error();
    EXPECT_EQ(e.code, "cancelled");
    EXPECT_EQ(e.partial_text, "partial");
    EXPECT_EQ(e.completion_tokens, 2);
    EXPECT_TRUE(last_job().msg.props.persistent);
    EXPECT_TRUE(host_.acked.empty());
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
    EXPECT_EQ(outcome(generation_outcome::cancelled), 1u);
}

TEST_F(generation_task_test, a_full_publish_queue_mid_stream_cancels_rather_than_leave_a_gap) {
    auto t = start();
    gen().token("a");
    host_.refuse_publish = true;
    gen().token("b");
    EXPECT_EQ(gen().cancels(), 1);
    host_.refuse_publish = false;
    host_.run_ready();
    EXPECT_EQ(last_error().code, "cancelled");
    EXPECT_EQ(last_error().partial_text, "ab") << "the audit keeps what was generated";
}

TEST_F(generation_task_test, upstream_errors_reach_the_client_with_their_code) {
    auto t = start();
    gen().token("so far");
    gen().fail({"upstream_rate_limited", "429 from the upstream", true});
    auto e = last_error();
    EXPECT_EQ(e.code, "upstream_rate_limited");
    EXPECT_TRUE(e.retryable);
    EXPECT_EQ(e.message, "429 from the upstream");
    EXPECT_EQ(e.partial_text, "so far");
    EXPECT_EQ(e.worker_id, "w-test");
    EXPECT_EQ(e.provider, "fake");
    EXPECT_EQ(last_job().msg.routing_key, broker::error_key("api-1"));
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag}) << "an error is an answer: acked, not requeued";
    EXPECT_EQ(outcome(generation_outcome::error), 1u);
}

TEST_F(generation_task_test, a_provider_that_throws_on_start_ends_in_internal_error_acked) {
    host_.fake_provider().throw_on_next_start("boom");
    auto t = start();
    auto e = last_error();
    EXPECT_EQ(e.code, "internal_error");
    EXPECT_FALSE(e.retryable) << "a request that throws would throw again";
    EXPECT_NE(e.message.find("boom"), std::string::npos) << e.message;
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
    EXPECT_TRUE(host_.requeued.empty());
    EXPECT_EQ(host_.generations_ended, 1);
}

TEST_F(generation_task_test, an_exception_inside_a_callback_ends_the_task_once_in_internal_error) {
    auto t = start();
    gen().token("a");
    host_.throw_on_next_publish = true;
    gen().token("b");  // publishing its chunk throws std::bad_alloc inside the provider's callback
    EXPECT_EQ(gen().cancels(), 1) << "the upstream is closed";
    EXPECT_EQ(last_error().code, "internal_error");
    host_.run_ready();  // the generation's own "cancelled" end comes after and is ignored
    EXPECT_EQ(published_to(broker::error_key("api-1")), 1u);
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
    EXPECT_EQ(host_.ended.size(), 1u);
    EXPECT_EQ(host_.generations_ended, 1) << "one slot, freed once";
}

TEST_F(generation_task_test, an_abandoned_task_publishes_nothing_and_leaves_its_delivery_to_the_broker) {
    // The consumer connection was lost: the broker requeues the delivery for another attempt.
    auto t = start();
    gen().token("a");
    t->abandon("lost the broker connection");
    EXPECT_EQ(gen().cancels(), 1);
    host_.run_ready();
    EXPECT_EQ(host_.published.size(), 1u) << "only the chunk sent before";
    EXPECT_TRUE(host_.acked.empty());
    EXPECT_TRUE(host_.requeued.empty());
    EXPECT_EQ(host_.ended, std::vector<std::string>{"req-1"});
    EXPECT_EQ(outcome(generation_outcome::abandoned), 1u);
    EXPECT_EQ(host_.generations_ended, 1);
}

TEST_F(generation_task_test, a_redelivery_labels_its_chunks_so_the_api_can_tell_the_worker_was_lost) {
    // The API ends a stream with worker_lost when chunks of another worker or attempt follow
    // tokens it already relayed (api/relay.cpp); the task's part is to label every chunk.
    auto t = start(chat_request(), /*attempt=*/2);
    gen().token("again");
    const auto& j = last_job();
    EXPECT_EQ(j.attempt, 2);
    EXPECT_EQ(j.seq, 1) << "a new attempt counts from the start";
    ASSERT_TRUE(j.stream);
    EXPECT_EQ(broker::field_string(j.stream->props.headers, "worker"), "w-test");
}

TEST_F(generation_task_test, a_request_refused_by_the_upstream_policy_never_reaches_the_provider) {
    auto req = chat_request();
    req.messages[0]["images"] = nlohmann::json::array({"http://169.254.169.254/latest/meta-data"});
    auto t = start(std::move(req));
    EXPECT_TRUE(host_.fake_provider().started().empty());
    EXPECT_EQ(last_error().code, "invalid_field");
    EXPECT_EQ(outcome(generation_outcome::rejected), 1u);
    confirm_last();
    EXPECT_EQ(host_.acked, std::vector<std::uint64_t>{tag});
}

TEST_F(generation_task_test, the_generation_length_cap_reaches_the_provider) {
    host_.mutable_settings().policy.max_tokens = 16;
    auto t = start();
    EXPECT_EQ(gen().request().max_tokens, 16);
}

TEST_F(generation_task_test, fail_answers_without_calling_the_provider) {
    auto t = make();
    t->fail({"timeout", "the request's deadline passed before a worker could start it", false});
    EXPECT_TRUE(host_.fake_provider().started().empty());
    EXPECT_EQ(last_error().code, "timeout");
    EXPECT_EQ(outcome(generation_outcome::rejected), 1u);
    EXPECT_EQ(host_.generations_ended, 1);
}

}  // namespace
}  // namespace llmp::worker
