#include "providers/mock/mock_provider.hpp"

#include "providers/embedding_exchange.hpp"
#include "providers/mock/mock_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/detached.hpp>
#include <gtest/gtest.h>

namespace llmp::providers {
namespace {

struct outcome {
    std::vector<std::string> tokens;
    std::optional<completion> done;
    std::optional<error> failed;
    int terminal_calls = 0;
};

outcome run(provider& p, net::io_context& ioc, generation_request req, bool cancel_after_first = false) {
    outcome out;
    std::shared_ptr<generation> g;
    generation_callbacks cb{
        [&](std::string_view t) {
            out.tokens.emplace_back(t);
            if (cancel_after_first && out.tokens.size() == 1) {
                g->cancel();
            }
        },
        [&](completion c) {
            out.done = std::move(c);
            ++out.terminal_calls;
        },
        [&](error e) {
            out.failed = std::move(e);
            ++out.terminal_calls;
        },
    };
    g = p.start(req, cb);
    ioc.run();
    ioc.restart();
    return out;
}

generation_request chat(std::string prompt) {
    generation_request r;
    r.request_id = "r";
    r.model = "mock";
    r.messages = nlohmann::json::array({{{"role", "user"}, {"content", std::move(prompt)}}});
    return r;
}

TEST(mock_text, deterministic_and_sized) {
    EXPECT_EQ(mock_tokens("hello", 5), mock_tokens("hello", 5));
    EXPECT_NE(mock_text("hello", 8), mock_text("goodbye", 8));
    EXPECT_EQ(mock_tokens("x", 7).size(), 7u);
    EXPECT_TRUE(mock_tokens("x", 0).empty());
    EXPECT_EQ(mock_prompt_tokens("  two words "), 2);
}

TEST(mock_provider, streams_the_deterministic_answer) {
    net::io_context ioc;
    mock_config cfg;
    cfg.tokens = 12;
    cfg.token_delay = std::chrono::microseconds{0};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    auto out = run(*p, ioc, chat("tell me a story"));
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.terminal_calls, 1);
    EXPECT_EQ(out.tokens, mock_tokens("tell me a story", 12));
    EXPECT_EQ(out.done->completion_tokens, 12);
    EXPECT_EQ(out.done->prompt_tokens, 4);
    EXPECT_EQ(out.done->done_reason, "stop");
}

TEST(mock_provider, num_predict_overrides_and_generate_works) {
    net::io_context ioc;
    mock_config cfg;
    cfg.token_delay = std::chrono::microseconds{100};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    generation_request g;
    g.kind = request_kind::generate;
    g.model = "mock";
    g.prompt = "why";
    g.options = {{"num_predict", 3}};
    auto out = run(*p, ioc, g);
    EXPECT_EQ(out.tokens, mock_tokens("why", 3));
}

TEST(mock_provider, a_huge_num_predict_is_cut_at_the_cap_without_allocating_for_it) {
    // Before the cap, the mock reserved num_predict tokens up front: 2^31-1 of them is tens of
    // GB, a bad_alloc (an ASan abort here) that killed the worker on every redelivery.
    net::io_context ioc;
    mock_config cfg;
    cfg.token_delay = std::chrono::microseconds{0};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    for (nlohmann::json asked :
         {nlohmann::json(2147483647), nlohmann::json(9223372036854775807LL), nlohmann::json(18446744073709551615ULL),
          nlohmann::json(1e300), nlohmann::json(-1), nlohmann::json(-2)}) {
        auto req = chat("go on forever");
        req.max_tokens = 40;
        req.options = {{"num_predict", asked}};
        auto out = run(*p, ioc, req);
        ASSERT_TRUE(out.done) << asked;
        EXPECT_EQ(out.tokens.size(), 40u) << asked;
        EXPECT_EQ(out.done->completion_tokens, 40) << asked;
        EXPECT_EQ(out.done->done_reason, "length") << asked;
    }
    // At the default cap too (4096 tokens, no delay): quick, and the same deterministic text.
    auto req = chat("go on forever");
    req.options = {{"num_predict", 2147483647}};
    auto out = run(*p, ioc, req);
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.tokens.size(), 4096u);
    EXPECT_EQ(out.tokens, mock_tokens("go on forever", 4096));
}

TEST(mock_provider, within_the_cap_the_answer_is_what_was_asked) {
    net::io_context ioc;
    mock_config cfg;
    cfg.tokens = 12;
    cfg.token_delay = std::chrono::microseconds{0};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    auto req = chat("exact");
    req.max_tokens = 40;
    req.options = {{"num_predict", 40}};
    auto out = run(*p, ioc, req);
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.tokens.size(), 40u);
    EXPECT_EQ(out.done->done_reason, "stop");
    // None asked: --mock-tokens, itself under the cap.
    req.options = nlohmann::json::object();
    out = run(*p, ioc, req);
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.tokens.size(), 12u);
    EXPECT_EQ(out.done->done_reason, "stop");
    req.max_tokens = 5;
    out = run(*p, ioc, req);
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.tokens.size(), 5u);
    EXPECT_EQ(out.done->done_reason, "length");
}

TEST(mock_provider, test_triggers_are_plain_text_unless_enabled) {
    // A client must not be able to kill or break a production worker with a prompt.
    net::io_context ioc;
    mock_config cfg;
    cfg.tokens = 3;
    cfg.token_delay = std::chrono::microseconds{0};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    for (const char* prompt : {"die [[mock:abort]]", "throw [[mock:throw]]", "later [[mock:throw-mid]]"}) {
        auto out = run(*p, ioc, chat(prompt));
        ASSERT_TRUE(out.done) << prompt;
        EXPECT_EQ(out.tokens, mock_tokens(prompt, 3));
    }
}

TEST(mock_provider, enabled_test_triggers_throw_from_start_or_fail_mid_stream) {
    net::io_context ioc;
    mock_config cfg;
    cfg.tokens = 5;
    cfg.token_delay = std::chrono::microseconds{0};
    cfg.test_triggers = true;
    auto p = make_mock_provider(cfg, ioc.get_executor());
    EXPECT_THROW(run(*p, ioc, chat("throw [[mock:throw]]")), std::bad_alloc);
    // Thrown inside the mock's own handler: it must not escape into the io_context.
    auto out = run(*p, ioc, chat("later [[mock:throw-mid]]"));
    ASSERT_TRUE(out.failed);
    EXPECT_EQ(out.failed->code, "internal_error");
    EXPECT_EQ(out.tokens.size(), 1u);
    EXPECT_EQ(out.terminal_calls, 1);
}

TEST(mock_provider, fails_on_demand) {
    net::io_context ioc;
    mock_config cfg;
    cfg.token_delay = std::chrono::microseconds{0};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    auto before = run(*p, ioc, chat("please [[mock:fail]]"));
    ASSERT_TRUE(before.failed);
    EXPECT_TRUE(before.tokens.empty());
    EXPECT_EQ(before.failed->code, "provider_error");
    auto after = run(*p, ioc, chat("please [[mock:fail-after=4]]"));
    ASSERT_TRUE(after.failed);
    EXPECT_EQ(after.tokens.size(), 4u);
    EXPECT_EQ(after.terminal_calls, 1);
}

TEST(mock_provider, cancel_ends_with_cancelled) {
    net::io_context ioc;
    mock_config cfg;
    cfg.token_delay = std::chrono::microseconds{1000};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    auto out = run(*p, ioc, chat("long"), /*cancel_after_first=*/true);
    ASSERT_TRUE(out.failed);
    EXPECT_EQ(out.failed->code, "cancelled");
    EXPECT_EQ(out.tokens.size(), 1u);
    EXPECT_EQ(out.terminal_calls, 1);
}

TEST(mock_provider, lists_normalized_models) {
    net::io_context ioc;
    mock_config cfg;
    cfg.models = {"mock", "tiny:1b"};
    auto p = make_mock_provider(cfg, ioc.get_executor());
    std::optional<result<std::vector<std::string>>> m;
    net::co_spawn(
        ioc, [&]() -> net::awaitable<void> { m = co_await p->models(); }, net::detached);
    ioc.run();
    ASSERT_TRUE(m && *m);
    EXPECT_EQ(m->value(), (std::vector<std::string>{"mock:latest", "tiny:1b"}));
}

TEST(mock_provider, a_chat_with_tools_is_answered_with_calls_and_a_tool_result_with_text) {
    net::io_context ioc;
    mock_config cfg;
    auto p = make_mock_provider(cfg, ioc.get_executor());
    auto req = chat("Weather in Paris?");
    req.extra["tools"] = nlohmann::json::parse(R"([
        {"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
            "properties":{"city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"}}}}},
        {"type":"function","function":{"name":"get_time"}}])");
    auto o = run(*p, ioc, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.tokens.empty());
    EXPECT_EQ(o.done->done_reason, "tool_calls");
    ASSERT_EQ(o.done->tool_calls.size(), 2u);
    EXPECT_EQ(o.done->tool_calls[0]["function"]["name"], "get_weather");
    EXPECT_EQ(nlohmann::json::parse(o.done->tool_calls[0]["function"]["arguments"].get<std::string>()),
              (nlohmann::json{{"city", "Weather in Paris?"}, {"days", 42}, {"metric", true}}));
    EXPECT_EQ(o.done->tool_calls[1]["function"]["arguments"], "{}");
    EXPECT_NE(o.done->tool_calls[0]["id"], o.done->tool_calls[1]["id"]);

    req.extra["tool_choice"] = nlohmann::json::parse(R"({"type":"function","function":{"name":"get_time"}})");
    o = run(*p, ioc, req);
    ASSERT_TRUE(o.done);
    ASSERT_EQ(o.done->tool_calls.size(), 1u);
    EXPECT_EQ(o.done->tool_calls[0]["function"]["name"], "get_time");

    req.extra["tool_choice"] = "none";
    o = run(*p, ioc, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->tool_calls.empty());
    EXPECT_EQ(o.tokens, mock_tokens("Weather in Paris?", cfg.tokens));

    req.extra.erase("tool_choice");
    req.messages.push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", o.done->tool_calls}});
    req.messages.push_back({{"role", "tool"}, {"content", "sunny"}});
    o = run(*p, ioc, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->tool_calls.empty());
    EXPECT_EQ(o.done->done_reason, "stop");
}

}  // namespace
}  // namespace llmp::providers

namespace llmp::providers {
namespace {

TEST(mock_provider, embeds_each_input_in_order_at_the_asked_dimensions) {
    net::io_context ioc;
    auto p = make_mock_provider(mock_config{}, ioc.get_executor());
    generation_request r;
    r.request_id = "r";
    r.model = "mock";
    r.kind = request_kind::embed;
    r.input = nlohmann::json::array({"short", "a longer text"});
    auto out = run(*p, ioc, r);
    ASSERT_TRUE(out.done);
    EXPECT_EQ(out.terminal_calls, 1);
    EXPECT_TRUE(out.tokens.empty());
    ASSERT_EQ(out.done->embeddings.size(), 2u);
    EXPECT_EQ(out.done->embeddings[0], mock_embedding("short", 0));
    EXPECT_EQ(out.done->embeddings[0].size(), 8u);
    EXPECT_NE(out.done->embeddings[0], out.done->embeddings[1]);
    EXPECT_EQ(out.done->prompt_tokens, 4);
    double norm = 0;
    for (const auto& x : out.done->embeddings[1]) {
        norm += x.get<double>() * x.get<double>();
    }
    EXPECT_NEAR(norm, 1.0, 1e-6);

    r.extra = {{"dimensions", 3}};
    r.input = nlohmann::json::array({"x [[mock:fail]]"});
    auto failed = run(*p, ioc, r);
    ASSERT_TRUE(failed.failed);
    EXPECT_EQ(failed.failed->code, "provider_error");
}

}  // namespace
}  // namespace llmp::providers
