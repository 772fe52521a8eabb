#pragma once
// fake_ollama: an in-process HTTP server that speaks Ollama's native API the way Ollama does
// (docs protocols.md §1), for unit tests of the Ollama provider and, through the `fake_ollama`
// executable, for end-to-end tests and benchmarks.
//
// Answers are deterministic and identical to the mock provider's: the text is
// providers::mock_tokens(prompt_text, n), where prompt_text is the last user message (chat) or
// the prompt (generate) and n is options.num_predict if > 0, else fake_ollama_options::tokens.
// prompt_eval_count is providers::mock_prompt_tokens(all_input_text) as the mock reports it.
//
// Endpoints: GET|HEAD /, GET /api/version, GET /api/tags, GET /api/ps, POST /api/chat,
// POST /api/generate (streaming NDJSON by default, or "stream":false). Errors as Ollama:
// 400 {"error":"model is required"}, 400 on invalid JSON, 404 {"error":"model 'x' not found"}.
//
// Tool calls: a chat request with `tools` is answered with calls (fake_tool_calls.hpp says
// which), as Ollama sends them: a done:false line with message.tool_calls (arguments objects,
// an id per call) and content "", then the done line with done_reason "stop".
//
// Logprobs: a request with logprobs: true (top_logprobs: k) gets a top-level "logprobs" list
// on each token's line (all of them on a reply that is not streamed), entries as
// fake_logprobs.hpp makes them, as Ollama (>= 0.12.11) sends them.
//
// Failure triggers, anywhere in the prompt text:
//   [[error-mid]]     after 3 tokens, a {"error":"..."} line, then the body ends (no done line)
//   [[close-mid]]     after 3 tokens the server closes the TCP connection
//   [[error-before]]  HTTP 500 {"error":"llama runner process has terminated: signal: killed"}
//   [[stall]]         1 token, then silence until the client disconnects
//   [[stall-before]]  no response at all (a model still loading) until the client disconnects
// Per request, options.mock_token_delay_ms overrides the per-token delay.
//
// Control hook (tests only): PUT /_fake/models {"models": ["name", ...]} replaces the models it
// lists and serves, as an `ollama pull` / `ollama rm` would; GET /_fake/stats its counters.
//
// Lifecycle: the constructor binds (port 0 = any free port) and starts the server threads; the
// destructor (or stop()) stops and joins them (fake_http_server.hpp). Every accessor
// is thread-safe.

#include "providers/testing/fake_http_server.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llmp::providers::testing {

struct fake_ollama_options {
    /// Models listed by /api/tags and accepted by chat/generate (compared as name:tag).
    std::vector<std::string> models{"llama3.2:latest", "qwen2.5:0.5b", "fake:latest"};
    /// Tokens per answer unless the request sets options.num_predict > 0.
    int tokens = 32;
    /// Delay before each token.
    std::chrono::milliseconds token_delay{0};
    /// Address to bind; port 0 picks a free port (read it back with port()).
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    /// Threads running the server's io_context.
    int threads = 1;
    /// Reported by /api/version.
    std::string version = "0.5.7";
};

/// The counters and waits (requests(), connections_open(), wait_for_client_close(), ...) come
/// from the shared server half.
class fake_ollama : public fake_http_server {
public:
    /// Binds and starts serving. Throws std::system_error if it cannot bind.
    explicit fake_ollama(fake_ollama_options opts = {});
    ~fake_ollama();

    /// "http://127.0.0.1:<port>"
    std::string url() const;

    /// The JSON body of the last POST /api/chat or /api/generate (null before any).
    nlohmann::json last_request_body() const;
    /// The last done:true object sent (null before any).
    nlohmann::json last_final() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::providers::testing
