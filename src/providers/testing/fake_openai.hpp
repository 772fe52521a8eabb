#pragma once
// fake_openai: an in-process HTTP server that speaks the OpenAI API the way OpenAI and vLLM do
// (docs protocols.md §2), for tests of the openai provider and, through the `fake_openai`
// executable, for end-to-end tests.
//
// Answers are deterministic and identical to the mock provider's: the text is
// providers::mock_tokens(prompt_text, n), where prompt_text is the last user message (chat) or
// the prompt (completions). n is fake_openai_options::tokens (finish_reason "stop"), or
// max_tokens / max_completion_tokens when smaller (finish_reason "length").
// usage.prompt_tokens is providers::mock_prompt_tokens(all_input_text).
//
// Endpoints (under /v1): GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions,
// POST /v1/completions, streaming ("stream":true: SSE `data: {chunk}` events, the role in the
// first delta, finish_reason on the last choice chunk with an empty delta, a usage chunk with
// "choices":[] only when stream_options.include_usage is true (and then "usage":null on every
// other chunk), `data: [DONE]`, end of body) or not. Errors are OpenAI error objects:
// 400 invalid_request_error, 401 invalid_api_key (when api_key is set and the request's
// "Authorization: Bearer" differs), 404 model_not_found, 429 rate_limit_exceeded.
//
// Tool calls: a chat request with `tools` is answered with calls (fake_tool_calls.hpp says
// which) as OpenAI streams them (delta.tool_calls: a head per call with index, id, type, name
// and arguments "", then argument fragments; finish_reason "tool_calls") or returns them
// (message.content null, message.tool_calls). Like OpenAI it answers 400 to assistant tool_calls
// whose arguments are not a string and to a tool message whose tool_call_id answers no earlier call.
//
// Logprobs: a chat request with logprobs: true (and top_logprobs 0..20, a 400 without
// logprobs) gets choices[].logprobs {content: [...], refusal: null}, one entry per token as
// fake_logprobs.hpp makes it, streamed with each token's chunk or whole; null otherwise.
//
// Failure triggers, anywhere in the prompt text:
//   [[error-mid]]     after 3 tokens, a data: {"error":{...}} event, then the body ends
//   [[429]]           HTTP 429 with Retry-After: 1 and a rate_limit_exceeded error object
//   [[error-before]]  HTTP 500 server_error
//   [[close-mid]]     after 3 tokens the server closes the TCP connection
//   [[stall]]         1 token, then silence until the client disconnects
//
// PUT /_fake/models {"models": ["id", ...]}: replaces the model ids it lists and serves (a
// model loaded or unloaded at run time).
// GET /_fake/stats: {requests, connections_accepted, connections_open, generations_started, generations_aborted,
// last_request (JSON body of the last POST), last_headers (its headers, lower-case names)}.
//
// Lifecycle: the constructor binds (port 0 = any free port) and starts the server threads; the
// destructor (or stop()) stops and joins them. Every accessor is thread-safe.

#include "providers/testing/fake_http_server.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llmp::providers::testing {

struct fake_openai_options {
    /// Model ids listed by /v1/models and accepted by the completions endpoints (exact match).
    std::vector<std::string> models{"gpt-4o-mini", "Qwen/Qwen2.5-7B-Instruct"};
    /// Tokens per answer unless max_tokens is smaller.
    int tokens = 32;
    /// Delay before each token.
    std::chrono::milliseconds token_delay{0};
    /// When non-empty, every /v1 request must carry "Authorization: Bearer <api_key>".
    std::string api_key;
    /// False: behave like servers that ignore stream_options (no usage chunk, ever).
    bool stream_usage = true;
    /// Address to bind; port 0 picks a free port (read it back with port()).
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    /// Threads running the server's io_context.
    int threads = 1;
};

/// The counters and waits (requests(), connections_open(), generations_aborted(), ...) come
/// from the shared server half.
class fake_openai : public fake_http_server {
public:
    /// Binds and starts serving. Throws std::system_error if it cannot bind.
    explicit fake_openai(fake_openai_options opts = {});
    ~fake_openai();

    /// "http://127.0.0.1:<port>/v1"
    std::string url() const;

    /// The JSON body of the last POST (null before any) and its headers (lower-case names).
    nlohmann::json last_request_body() const;
    nlohmann::json last_request_headers() const;
    /// GET /_fake/stats as JSON: the server's counters, the last request and its headers.
    nlohmann::json stats() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::providers::testing
