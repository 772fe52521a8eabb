#include "api/embedding_renderer.hpp"
#include "api/embedding_request_parser.hpp"

#include "common/base64.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace llmp::api {
namespace {

using json = nlohmann::json;

TEST(embedding_request_parser, openai_string_or_array_input_with_options) {
    auto one = parse_openai_embedding_request(R"({"model":"e5","input":"hello"})");
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(one.value().msg.kind, request_kind::embed);
    EXPECT_FALSE(one.value().msg.stream);
    EXPECT_EQ(one.value().msg.input, json::array({"hello"}));
    EXPECT_FALSE(one.value().base64);

    auto many = parse_openai_embedding_request(
        R"({"model":"e5","input":["a","b"],"encoding_format":"base64","dimensions":4,"user":"u"})");
    ASSERT_TRUE(many) << many.error().message;
    EXPECT_EQ(many.value().msg.input, json::array({"a", "b"}));
    EXPECT_TRUE(many.value().base64);
    EXPECT_EQ(many.value().msg.extra["dimensions"], 4);
    EXPECT_EQ(many.value().msg.extra["user"], "u");
    EXPECT_EQ(many.value().msg.api_flavour, "openai");
}

TEST(embedding_request_parser, refuses_what_it_cannot_embed) {
    for (const char* body :
         {R"({"input":"x"})", R"({"model":"e5"})", R"({"model":"e5","input":[]})", R"({"model":"e5","input":[1,2,3]})",
          R"({"model":"e5","input":""})", R"({"model":"e5","input":"x","encoding_format":"int8"})",
          R"({"model":"e5","input":"x","dimensions":0})"}) {
        auto r = parse_openai_embedding_request(body);
        EXPECT_FALSE(r) << body;
    }
}

TEST(embedding_request_parser, ollama_embed_and_legacy_embeddings) {
    auto r = parse_ollama_embedding_request(
        R"({"model":"nomic","input":["x","y"],"truncate":false,"dimensions":3,"options":{"num_ctx":512},"keep_alive":"1m"})",
        false);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().msg.input, json::array({"x", "y"}));
    EXPECT_EQ(r.value().msg.extra["truncate"], false);
    EXPECT_EQ(r.value().msg.extra["dimensions"], 3);
    EXPECT_EQ(r.value().msg.options["num_ctx"], 512);
    EXPECT_EQ(r.value().msg.api_flavour, "ollama");

    auto legacy = parse_ollama_embedding_request(R"({"model":"nomic","prompt":"one text"})", true);
    ASSERT_TRUE(legacy) << legacy.error().message;
    EXPECT_EQ(legacy.value().msg.input, json::array({"one text"}));
    EXPECT_FALSE(parse_ollama_embedding_request(R"({"model":"nomic","input":"x"})", true));
}

final_message vectors() {
    final_message f;
    f.embeddings = json::array({json::array({0.5, -0.25}), json::array({1.0, 0.0})});
    f.prompt_tokens = 7;
    return f;
}

TEST(embedding_renderer, openai_list_with_usage_floats_or_base64) {
    auto r = make_embedding_renderer(embedding_flavour::openai, false, "e5");
    EXPECT_FALSE(r->streaming());
    auto res = r->complete(vectors(), "", {});
    auto j = json::parse(res.body());
    EXPECT_EQ(j["object"], "list");
    EXPECT_EQ(j["model"], "e5");
    ASSERT_EQ(j["data"].size(), 2u);
    EXPECT_EQ(j["data"][1]["object"], "embedding");
    EXPECT_EQ(j["data"][1]["index"], 1);
    EXPECT_EQ(j["data"][0]["embedding"], json::array({0.5, -0.25}));
    EXPECT_EQ(j["usage"], json({{"prompt_tokens", 7}, {"total_tokens", 7}}));

    auto b = make_embedding_renderer(embedding_flavour::openai, true, "e5")->complete(vectors(), "", {});
    auto text = json::parse(b.body())["data"][0]["embedding"].get<std::string>();
    auto bytes = base64_decode(text);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes->size(), 8u);
    float v[2];
    std::memcpy(v, bytes->data(), 8);
    EXPECT_EQ(v[0], 0.5F);
    EXPECT_EQ(v[1], -0.25F);
}

TEST(embedding_renderer, ollama_embed_and_legacy_shapes) {
    auto f = vectors();
    f.provider_metrics = {{"total_duration", 1234}, {"load_duration", 5}};
    auto j =
        json::parse(make_embedding_renderer(embedding_flavour::ollama, false, "nomic")->complete(f, "", {}).body());
    EXPECT_EQ(j["model"], "nomic");
    EXPECT_EQ(j["embeddings"], f.embeddings);
    EXPECT_EQ(j["total_duration"], 1234);
    EXPECT_EQ(j["load_duration"], 5);
    EXPECT_EQ(j["prompt_eval_count"], 7);
    auto l = json::parse(
        make_embedding_renderer(embedding_flavour::ollama_legacy, false, "nomic")->complete(f, "", {}).body());
    EXPECT_EQ(l, json({{"embedding", json::array({0.5, -0.25})}}));
}

TEST(embedding_renderer, errors_in_each_doors_shape) {
    llmp::error e{"model_not_found", "no such model", false};
    auto o = make_embedding_renderer(embedding_flavour::openai, false, "e5")->failure(e);
    EXPECT_EQ(o.result_int(), 404);
    EXPECT_TRUE(json::parse(o.body()).contains("error"));
    EXPECT_TRUE(json::parse(o.body())["error"].is_object());
    auto l = make_embedding_renderer(embedding_flavour::ollama, false, "nomic")->failure(e);
    EXPECT_EQ(l.result_int(), 404);
    EXPECT_TRUE(json::parse(l.body())["error"].is_string());
}

}  // namespace
}  // namespace llmp::api
