// The simdjson fast path must give exactly the rows of the nlohmann reference decoder, and take
// the common messages (those our api and workers encode) itself.
#include "audit/fast_decode.hpp"

#include <gtest/gtest.h>

namespace llmp::audit {
namespace {

using nlohmann::json;

json as_json(const std::optional<std::string>& s) {
    return s ? json::parse(*s) : json{};
}

void expect_same(const request_row& a, const request_row& b) {
    EXPECT_EQ(a.request_id, b.request_id);
    EXPECT_EQ(a.received_at_ms, b.received_at_ms);
    EXPECT_EQ(a.server_id, b.server_id);
    EXPECT_EQ(a.api_flavour, b.api_flavour);
    EXPECT_EQ(a.route, b.route);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.model, b.model);
    EXPECT_EQ(a.stream, b.stream);
    EXPECT_EQ(a.priority, b.priority);
    EXPECT_EQ(as_json(a.messages_json), as_json(b.messages_json));
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_EQ(json::parse(a.options_json), json::parse(b.options_json));
    EXPECT_EQ(json::parse(a.extra_json), json::parse(b.extra_json));
    EXPECT_EQ(a.client_addr, b.client_addr);
    EXPECT_EQ(a.user_agent, b.user_agent);
    EXPECT_EQ(a.deadline_ms, b.deadline_ms);
    EXPECT_EQ(a.key_id, b.key_id);
    EXPECT_EQ(a.key_name, b.key_name);
    EXPECT_EQ(a.model_alias, b.model_alias);
}

void expect_same(const response_row& a, const response_row& b) {
    EXPECT_EQ(a.request_id, b.request_id);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.server_id, b.server_id);
    EXPECT_EQ(a.worker_id, b.worker_id);
    EXPECT_EQ(a.provider, b.provider);
    EXPECT_EQ(a.model, b.model);
    EXPECT_EQ(a.done_reason, b.done_reason);
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
    EXPECT_EQ(a.completion_tokens, b.completion_tokens);
    EXPECT_EQ(a.ttft_ms, b.ttft_ms);
    EXPECT_EQ(a.duration_ms, b.duration_ms);
    EXPECT_EQ(a.tokens_per_s, b.tokens_per_s);
    EXPECT_EQ(json::parse(a.provider_metrics_json), json::parse(b.provider_metrics_json));
    EXPECT_EQ(a.completed_at_ms, b.completed_at_ms);
    EXPECT_EQ(a.key_id, b.key_id);
    EXPECT_EQ(a.key_name, b.key_name);
    EXPECT_EQ(a.tool_calls_json.empty(), b.tool_calls_json.empty());
    if (!a.tool_calls_json.empty() && !b.tool_calls_json.empty()) {
        EXPECT_EQ(json::parse(a.tool_calls_json), json::parse(b.tool_calls_json));
    }
}

/// Decodes `d` both ways and expects the same outcome; returns whether the fast path took it.
bool check_request(const std::string& body) {
    SCOPED_TRACE(body);
    broker::delivery d;
    d.body = body;
    d.props.timestamp = 1700000000;
    auto fast = decode_record(source::requests, d, 42);
    auto ref = decode_record_reference(source::requests, d, 42);
    EXPECT_EQ(fast.has_value(), ref.has_value());
    if (fast && ref) {
        expect_same(std::get<request_row>(fast.value()), std::get<request_row>(ref.value()));
    } else if (!fast && !ref) {
        EXPECT_EQ(fast.error().message, ref.error().message);
    }
    return fast_decode::request(body).has_value();
}

bool check_final(const std::string& body) {
    SCOPED_TRACE(body);
    broker::delivery d;
    d.routing_key = "api-1.final";
    d.body = body;
    d.props.correlation_id = "r-9";
    d.props.timestamp = 1700000000;
    d.props.headers = {{"seq", std::int64_t{7}}, {"worker", std::string{"worker-from-header"}}};
    auto fast = decode_record(source::responses, d, 42);
    auto ref = decode_record_reference(source::responses, d, 42);
    EXPECT_EQ(fast.has_value(), ref.has_value());
    if (fast && ref) {
        expect_same(std::get<response_row>(fast.value()), std::get<response_row>(ref.value()));
    }
    return fast_decode::final(body).has_value();
}

request_message chat_request() {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.received_at_ms = 1700000000123;
    m.deadline_ms = 1700000300123;
    m.model = "llama3.2:latest";
    m.messages = json::array({{{"role", "system"}, {"content", "Be brief."}},
                              {{"role", "user"}, {"content", "h\u00e9llo \U0001F999 \"quoted\"\ttab\nline \\ slash"}}});
    m.options = {{"temperature", 0.7}, {"num_predict", 128}, {"stop", {"\n\n"}}};
    m.extra = {{"format", "json"}};
    m.stream = false;
    m.priority = 5;
    m.api_flavour = "openai";
    m.route = "/v1/chat/completions";
    m.client_addr = "10.0.0.7";
    m.user_agent = "OpenAI/JS 6.49.0";
    return m;
}

TEST(fast_decode, takes_the_requests_our_api_encodes_and_agrees_with_the_reference) {
    EXPECT_TRUE(check_request(encode(chat_request())));
    auto g = chat_request();
    g.kind = request_kind::generate;
    g.prompt = "Why is the sky blue?\n";
    EXPECT_TRUE(check_request(encode(g)));
    auto bare = chat_request();
    bare.received_at_ms = 0;  // falls back to the delivery's timestamp, both ways
    bare.messages = json::array();
    EXPECT_TRUE(check_request(encode(bare)));
}

TEST(fast_decode, takes_the_api_key_of_requests_and_finals) {
    auto m = chat_request();
    m.key_id = "0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01";
    m.key_name = "team-a \u00e9";
    EXPECT_TRUE(check_request(encode(m)));
    auto row = fast_decode::request(encode(m));
    ASSERT_TRUE(row);
    EXPECT_EQ(row->key_id, m.key_id);
    EXPECT_EQ(row->key_name, m.key_name);
    EXPECT_TRUE(fast_decode::request(encode(chat_request()))->key_id.empty()) << "no key: NULL in the row";
    m.model_alias = "gpt-4o-mini";
    EXPECT_TRUE(check_request(encode(m))) << "an alias stays on the fast path";
    EXPECT_EQ(fast_decode::request(encode(m))->model_alias, "gpt-4o-mini");

    final_message f;
    f.text = "hi";
    f.key_id = m.key_id;
    f.key_name = m.key_name;
    EXPECT_TRUE(check_final(encode(f)));
    auto fin = fast_decode::final(encode(f));
    ASSERT_TRUE(fin);
    EXPECT_EQ(fin->row.key_id, m.key_id);
    EXPECT_EQ(fin->row.key_name, m.key_name);
    EXPECT_TRUE(check_final(R"({"text":"x","key_id":null,"key_name":null})"));
    EXPECT_FALSE(check_request(R"({"request_id":"r","server_id":"s","model":"m","key_id":7})")) << "wrong type";
    EXPECT_FALSE(check_final(R"({"key_name":["a"]})"));
}

TEST(fast_decode, nulls_and_other_shapes_get_the_reference_defaults) {
    EXPECT_TRUE(check_request(
        R"({"request_id":"r","server_id":"s","model":"m","api_flavour":null,"priority":null,"messages":null,)"
        R"("options":[1],"extra":"x","kind":"other","stream":null})"));
    EXPECT_TRUE(check_request(R"({"request_id":"r","server_id":"s","model":"m","messages":{"role":"user"}})"));
    EXPECT_TRUE(check_request(R"({"request_id":"r","server_id":"s","model":"m","user_agent":"a\u0000b"})"))
        << "a NUL in a plain string is stripped the same way";
}

TEST(fast_decode, leaves_anything_unusual_to_the_reference) {
    const char* bodies[] = {
        R"({"request_id":"r","server_id":"s","model":"m","messages":[{"content":"a\u0000b"}]})",  // NUL in JSON
        R"({"request_id":"r","server_id":"s","model":"m","priority":1.5})",                       // int as double
        R"({"request_id":"r","server_id":"s","model":"m","received_at_ms":18446744073709551615})",
        R"({"request_id":"r","server_id":"s","model":"m","model":"n"})",                            // repeated key
        R"({"request_id":"r","server_id":"s","model":"m","surprise":true})",                        // unknown key
        R"({"request_id":"r","server_id":"s","model":"m","stream":"yes"})",                         // wrong type
        "{\"request_id\":\"r\",\"server_id\":\"s\",\"model\":\"m\",\"prompt\":\"bad \xff byte\"}",  // invalid UTF-8
        R"({"request_id":"r","server_id":"s"})",                                                    // no model
        R"({"request_id":"r","server_id":"s","model":"m"} trailing)",
        R"([1,2])",
        "not json",
    };
    // Nested deeper than the reference decoder allows (simdjson's own limit is 1024).
    const std::string deep = std::string(67, '[') + std::string(67, ']');
    EXPECT_FALSE(check_request(R"({"request_id":"r","server_id":"s","model":"m","options":{"x":)" + deep + "}}"));
    for (const char* b : bodies) {
        EXPECT_FALSE(check_request(b)) << b;
    }
}

TEST(fast_decode, takes_the_finals_our_workers_encode_and_agrees_with_the_reference) {
    final_message f;
    f.text = "Rayleigh scattering \u2014 shorter wavelengths scatter more.\n";
    f.prompt_tokens = 26;
    f.completion_tokens = 96;
    f.ttft_ms = 85.5;
    f.duration_ms = 2210.25;
    f.tokens_per_s = 43.4;
    f.worker_id = "worker-a";
    f.provider = "ollama";
    f.model = "llama3.2:latest";
    f.done_reason = "length";
    f.provider_metrics = {{"eval_count", 96}, {"eval_duration", 2100000000}};
    f.completed_at_ms = 1700000002210;
    EXPECT_TRUE(check_final(encode(f)));
    EXPECT_TRUE(check_final(R"({"worker_id":null,"ttft_ms":12,"provider_metrics":[],"done_reason":null})"))
        << "worker from the header, integer ms, non-object metrics, default done reason";
    EXPECT_TRUE(check_final("{}"));
    f.done_reason = "tool_calls";
    f.tool_calls =
        json::parse(R"([{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])");
    EXPECT_TRUE(check_final(encode(f))) << "with tool calls";
    EXPECT_TRUE(check_final(R"({"tool_calls":[]})")) << "no calls: NULL both ways";
    EXPECT_TRUE(check_final(R"({"tool_calls":"nope"})")) << "not an array: NULL both ways";
    EXPECT_FALSE(check_final(R"({"prompt_tokens":"12"})"));
    EXPECT_FALSE(check_final(R"({"provider_metrics":{"x":"\u0000"}})"));
}

}  // namespace
}  // namespace llmp::audit
