#include "providers/upstream_policy.hpp"

#include "providers/ollama/ollama_wire.hpp"
#include "providers/openai/openai_wire.hpp"

#include <gtest/gtest.h>

namespace llmp::providers {
namespace {

using json = nlohmann::json;

generation_request chat_with(json options, json extra = json::object()) {
    generation_request r;
    r.model = "llama3.2";
    r.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
    r.options = std::move(options);
    r.extra = std::move(extra);
    return r;
}

/// What the Ollama upstream would receive for `r` after the policy.
json ollama_body(generation_request r, const upstream_policy& p = {}) {
    auto applied = apply_upstream_policy(r, p, false);
    EXPECT_TRUE(applied) << (applied ? "" : applied.error().message);
    return json::parse(ollama::request_body(r));
}

json openai_body(generation_request r, const upstream_policy& p = {}) {
    auto applied = apply_upstream_policy(r, p, false);
    EXPECT_TRUE(applied) << (applied ? "" : applied.error().message);
    return json::parse(openai::request_body(r, r.model));
}

TEST(upstream_policy, sampling_options_pass_and_load_options_do_not) {
    json sampling{{"temperature", 0.2},
                  {"top_p", 0.9},
                  {"top_k", 40},
                  {"min_p", 0.05},
                  {"typical_p", 1.0},
                  {"repeat_penalty", 1.1},
                  {"repeat_last_n", 64},
                  {"presence_penalty", 0.5},
                  {"frequency_penalty", 0.5},
                  {"seed", 7},
                  {"stop", {"\n"}},
                  {"mirostat", 2},
                  {"mirostat_tau", 5.0},
                  {"mirostat_eta", 0.1}};
    json hostile{{"num_gpu", 999},     {"main_gpu", 3},   {"num_thread", 512}, {"use_mmap", false},
                 {"use_mlock", true},  {"numa", true},    {"low_vram", true},  {"num_batch", 100000},
                 {"vocab_only", true}, {"f16_kv", false}, {"something_new", 1}};
    json options = sampling;
    options.update(hostile);
    auto body = ollama_body(chat_with(options, {{"keep_alive", -1},
                                                {"template", "{{ .Prompt }}"},
                                                {"raw", true},
                                                {"context", {1, 2, 3}},
                                                {"format", "json"},
                                                {"think", true},
                                                {"logprobs", true},
                                                {"top_logprobs", 2},
                                                {"user", "someone"},
                                                {"metadata", {{"team", "x"}}}}));
    for (const auto& [k, v] : sampling.items()) {
        EXPECT_EQ(body["options"][k], v) << k;
    }
    for (const auto& [k, v] : hostile.items()) {
        EXPECT_FALSE(body["options"].contains(k)) << k;
    }
    for (const char* k : {"keep_alive", "template", "raw", "context", "user", "metadata"}) {
        EXPECT_FALSE(body.contains(k)) << k;
    }
    EXPECT_EQ(body["format"], "json");
    EXPECT_EQ(body["think"], true);
    EXPECT_EQ(body["logprobs"], true);  // only what the answer carries
    EXPECT_EQ(body["top_logprobs"], 2);
}

TEST(upstream_policy, the_operator_can_allow_load_options_and_passthrough_keys) {
    upstream_policy p;
    p.allowed_client_options = {"keep_alive", "num_gpu"};
    auto body = ollama_body(chat_with({{"num_gpu", 20}, {"main_gpu", 1}}, {{"keep_alive", "10m"}, {"raw", true}}), p);
    EXPECT_EQ(body["options"]["num_gpu"], 20);
    EXPECT_FALSE(body["options"].contains("main_gpu"));
    EXPECT_EQ(body["keep_alive"], "10m");
    EXPECT_FALSE(body.contains("raw"));
}

TEST(upstream_policy, num_ctx_is_clamped_to_the_ceiling) {
    upstream_policy p;
    p.max_num_ctx = 8192;
    EXPECT_EQ(ollama_body(chat_with({{"num_ctx", 1048576}}), p)["options"]["num_ctx"], 8192);
    EXPECT_EQ(ollama_body(chat_with({{"num_ctx", 1e300}}), p)["options"]["num_ctx"], 8192);
    EXPECT_EQ(ollama_body(chat_with({{"num_ctx", 4096}}), p)["options"]["num_ctx"], 4096);
    EXPECT_FALSE(ollama_body(chat_with({{"num_ctx", -5}}), p)["options"].contains("num_ctx"));
    EXPECT_FALSE(ollama_body(chat_with({{"num_ctx", "big"}}), p)["options"].contains("num_ctx"));
}

TEST(upstream_policy, the_upstream_is_always_asked_for_a_bounded_answer) {
    upstream_policy p;
    p.max_tokens = 4096;
    p.max_tokens_for = {{"llama3.2", 100}};
    // Above the cap, unbounded (-1, -2), or absent: the cap.
    for (json asked : {json(2147483647), json(-1), json(-2), json(1e300), json(nullptr)}) {
        json options = asked.is_null() ? json::object() : json{{"num_predict", asked}};
        EXPECT_EQ(ollama_body(chat_with(options), p)["options"]["num_predict"], 100) << asked;
        EXPECT_EQ(openai_body(chat_with(options), p)["max_tokens"], 100) << asked;
    }
    // Within it: as asked.
    EXPECT_EQ(ollama_body(chat_with({{"num_predict", 7}}), p)["options"]["num_predict"], 7);
    EXPECT_EQ(openai_body(chat_with({{"num_predict", 7}}), p)["max_tokens"], 7);
    // Another model: the global cap.
    auto other = chat_with({{"num_predict", 100000}});
    other.model = "qwen:7b";
    EXPECT_EQ(ollama_body(other, p)["options"]["num_predict"], 4096);
}

TEST(upstream_policy, token_limit_says_when_the_cap_cut_the_answer) {
    generation_request r;
    r.max_tokens = 50;
    auto limit = [&](json options, std::int64_t absent) {
        r.options = std::move(options);
        return token_limit_for(r, absent);
    };
    EXPECT_EQ(limit({{"num_predict", 10}}, 32).n, 10);
    EXPECT_FALSE(limit({{"num_predict", 10}}, 32).capped);
    EXPECT_EQ(limit({{"num_predict", 51}}, 32).n, 50);
    EXPECT_TRUE(limit({{"num_predict", 51}}, 32).capped);
    EXPECT_TRUE(limit({{"num_predict", -1}}, 32).capped);
    EXPECT_EQ(limit(json::object(), 32).n, 32);
    EXPECT_FALSE(limit(json::object(), 32).capped);
    EXPECT_EQ(limit(json::object(), 500).n, 50);
    EXPECT_TRUE(limit(json::object(), 500).capped);
}

TEST(upstream_policy, remote_image_urls_never_reach_an_openai_upstream) {
    const char* urls[] = {"http://169.254.169.254/latest/meta-data/", "https://internal.example/x.png",
                          "HTTP://10.0.0.1/", " file:///etc/passwd", "gopher://127.0.0.1:6379/_"};
    for (const char* url : urls) {
        auto ollama_style = chat_with(json::object());
        ollama_style.messages[0]["images"] = json::array({url});
        auto r = apply_upstream_policy(ollama_style, {}, false);
        ASSERT_FALSE(r) << url;
        EXPECT_EQ(r.error().code, "invalid_field");
        EXPECT_NE(r.error().message.find("messages[0].images[0]"), std::string::npos) << r.error().message;

        auto parts = chat_with(json::object());
        parts.messages[0]["content"] = json::array(
            {{{"type", "text"}, {"text", "what is this?"}}, {{"type", "image_url"}, {"image_url", {{"url", url}}}}});
        r = apply_upstream_policy(parts, {}, false);
        ASSERT_FALSE(r) << url;
        EXPECT_NE(r.error().message.find("messages[0].content[1].image_url.url"), std::string::npos)
            << r.error().message;

        generation_request gen;
        gen.kind = request_kind::generate;
        gen.prompt = "describe";
        gen.extra = {{"images", {url}}};
        EXPECT_FALSE(apply_upstream_policy(gen, {}, false)) << url;
    }
    // Other part types an upstream might fetch are refused by name.
    auto audio = chat_with(json::object());
    audio.messages[0]["content"] = json::array({{{"type", "input_audio"}, {"input_audio", {{"url", "x"}}}}});
    EXPECT_FALSE(apply_upstream_policy(audio, {}, false));
}

TEST(upstream_policy, image_data_passes_and_remote_urls_pass_when_allowed) {
    auto r = chat_with(json::object());
    r.messages[0]["images"] = json::array({"iVBORw0KGgoAAAANSUhEUg==", "data:image/png;base64,iVBORw0KGgo="});
    auto body = openai_body(r);
    auto content = body["messages"][0]["content"];
    ASSERT_EQ(content.size(), 3u) << body.dump();
    EXPECT_EQ(content[1]["image_url"]["url"], "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==");
    EXPECT_EQ(content[2]["image_url"]["url"], "data:image/png;base64,iVBORw0KGgo=");

    upstream_policy p;
    p.allow_remote_images = true;
    r.messages[0]["images"] = json::array({"https://images.example/cat.png"});
    body = openai_body(r, p);
    EXPECT_EQ(body["messages"][0]["content"][1]["image_url"]["url"], "https://images.example/cat.png");
}

TEST(upstream_policy, parses_per_model_caps) {
    auto cap = parse_model_cap("llama3.2=8192");
    ASSERT_TRUE(cap);
    EXPECT_EQ(cap.value().first, "llama3.2:latest");
    EXPECT_EQ(cap.value().second, 8192);
    for (const char* bad : {"llama3.2", "=5", "m=", "m=0", "m=-3", "m=12x", "m=99999999999999999999"}) {
        EXPECT_FALSE(parse_model_cap(bad)) << bad;
    }
}

TEST(upstream_policy, mock_options_stay_only_for_the_mock) {
    auto r = chat_with({{"mock_token_delay_ms", 5}, {"temperature", 1}});
    auto for_mock = r;
    ASSERT_TRUE(apply_upstream_policy(for_mock, {}, true));
    EXPECT_EQ(for_mock.options["mock_token_delay_ms"], 5);
    ASSERT_TRUE(apply_upstream_policy(r, {}, false));
    EXPECT_FALSE(r.options.contains("mock_token_delay_ms"));
    EXPECT_EQ(r.options["temperature"], 1);
}

}  // namespace
}  // namespace llmp::providers
