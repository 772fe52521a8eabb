#pragma once
// The message contracts between processes (design.md "Messages"). Broker-agnostic: the
// broker component carries these as bodies plus a few AMQP properties; nothing here knows
// about rabbitmq-c. Pure functions, callable from any thread.
//
//   request  -> llm.requests          JSON (request_message)
//   chunks   -> <server-id>.chunks    frames of many streams (common/chunk_frames.hpp); header worker
//   chunk    -> <server-id>.chunk     one stream's raw UTF-8 text delta; headers seq/worker/attempt
//   final    -> <server-id>.final     JSON (final_message; tool calls, token logprobs and embedding
//                                     vectors ride here, never in chunks)
//   error    -> <server-id>.error     JSON (error_message)
//   heartbeat-> worker.heartbeat      JSON (worker_heartbeat) on llm.control
//
// The API key that admitted a request (`key_id`, `key_name`; never the key, its hash or prefix)
// travels in the request and is copied by the worker into its final or error message (and by
// the API into a verdict), with the request's received_at_ms (`request_received_at_ms`: the
// audit's day partition of the response), so each audit row is whole on its own: the audit stores responses
// without waiting for, or joining with, the request. Absent with `--auth none`.

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp {

/// embed: vectors for `input` (POST /v1/embeddings, /ollama/api/embed); never streamed, the
/// vectors come in the final message.
enum class request_kind { chat, generate, embed };

std::string_view to_string(request_kind k);

struct request_message {
    std::string request_id;
    std::string server_id;  ///< the API server that owns the client's stream
    std::int64_t received_at_ms = 0;
    std::int64_t deadline_ms = 0;  ///< wall clock; 0 = none
    request_kind kind = request_kind::chat;
    std::string model;        ///< the served model the request is queued for (the routing key)
    std::string model_alias;  ///< the name the client sent when it was an alias of `model`; else empty
    nlohmann::json messages = nlohmann::json::array();  ///< chat
    std::string prompt;                                 ///< generate
    nlohmann::json input = nlohmann::json::array();     ///< embed: the texts, in order (strings)
    nlohmann::json options = nlohmann::json::object();  ///< Ollama-style options
    nlohmann::json extra = nlohmann::json::object();    ///< passthrough: system, format, think, ...
    bool stream = true;
    int priority = 0;
    std::int64_t timeout_ms = 0;         ///< per-request deadline asked by the client (0 = default)
    std::string api_flavour = "native";  ///< native | openai | ollama
    std::string route;
    std::string client_addr;
    std::string user_agent;
    std::string key_id;    ///< the admitting API key's id (api_keys.id); empty = none (--auth none)
    std::string key_name;  ///< its name, kept as it was when the request came in
};

std::string encode(const request_message& m);
result<request_message> decode_request(std::string_view body);

/// The model name the client sees in replies: the alias it sent, else the model.
inline const std::string& public_model_name(const request_message& m) {
    return m.model_alias.empty() ? m.model : m.model_alias;
}

/// A choice after the first of a request that asked for several (OpenAI's `n` > 1, in
/// extra.n): what final_message holds for choice 0 (text, done_reason, tool_calls, logprobs),
/// for choice `index`.
struct choice_outcome {
    int index = 1;
    std::string done_reason = "stop";
    std::string text;
    nlohmann::json tool_calls = nlohmann::json::array();  ///< as final_message::tool_calls; empty = none
    nlohmann::json logprobs = nlohmann::json::array();    ///< as final_message::logprobs; empty = none
};

/// The metrics, full text and tool calls of a finished generation.
struct final_message {
    std::string done_reason = "stop";
    std::string text;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    double ttft_ms = 0;
    double duration_ms = 0;
    double tokens_per_s = 0;
    std::string worker_id;
    std::string provider;
    std::string model;
    nlohmann::json provider_metrics = nlohmann::json::object();  ///< e.g. Ollama's ns durations
    std::int64_t completed_at_ms = 0;                            ///< wall clock when the generation ended (0 = unknown)
    std::string key_id;                                          ///< copied from the request; empty = none
    std::string key_name;                                        ///< copied from the request
    /// The request's received_at_ms, copied from it: the audit stores the response in the
    /// request's day partition (docs/architecture.md "Daily partitions"); 0 = unknown (an older
    /// worker), and then absent from the wire.
    std::int64_t request_received_at_ms = 0;
    /// The function calls the model answered with (common/tool_calls.hpp's contract shape:
    /// [{id, type:"function", function:{name, arguments:"<JSON text>"}}]); empty = none, and
    /// then absent from the wire. Present: done_reason is "tool_calls".
    nlohmann::json tool_calls = nlohmann::json::array();
    /// embed: one vector (array of numbers) per input, in the input's order; empty = none, and
    /// then absent from the wire. prompt_tokens counts the input.
    nlohmann::json embeddings = nlohmann::json::array();
    /// The log probabilities of the generated tokens when the request asked for them
    /// (extra.logprobs), in OpenAI's shape whatever the upstream: [{token, logprob, bytes,
    /// top_logprobs:[{token, logprob, bytes}]}], in generation order; empty = none, and then
    /// absent from the wire.
    nlohmann::json logprobs = nlohmann::json::array();
    /// n > 1: choices 1..n-1 in index order (choice 0 is the fields above); empty for n = 1, and
    /// then absent from the wire. completion_tokens counts every choice's tokens, prompt_tokens
    /// the prompt once (as OpenAI's usage does).
    std::vector<choice_outcome> choices;
};

std::string encode(const final_message& m);
result<final_message> decode_final(std::string_view body);
/// final_message::choices on the wire ([{index, done_reason, text, tool_calls?, logprobs?}]),
/// and back (leniently: what is not such an object is skipped). The audit stores this array.
nlohmann::json choices_json(const std::vector<choice_outcome>& choices);
std::vector<choice_outcome> choices_of(const nlohmann::json& j);

struct error_message {
    std::string code;
    std::string message;
    bool retryable = false;
    std::string worker_id;
    std::int64_t completed_at_ms = 0;  ///< wall clock when the request failed (0 = unknown)
    // What had been generated before the failure or cancellation (for the audit record).
    std::string partial_text;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    double ttft_ms = 0;
    double duration_ms = 0;
    std::string provider;
    std::string model;
    std::string key_id;                       ///< copied from the request; empty = none
    std::string key_name;                     ///< copied from the request
    std::int64_t request_received_at_ms = 0;  ///< as final_message's: copied from the request; 0 = unknown
};

std::string encode(const error_message& m);
result<error_message> decode_error(std::string_view body);

struct worker_heartbeat {
    std::string worker_id;
    std::string host;
    std::string provider;
    std::vector<std::string> models;
    int in_flight = 0;
    int concurrency = 0;
    double tokens_per_s = 0;
    std::int64_t requests_total = 0;
    std::int64_t tokens_total = 0;
    std::int64_t sent_at_ms = 0;
    bool leaving = false;  ///< last heartbeat of a worker that is shutting down
};

std::string encode(const worker_heartbeat& m);
result<worker_heartbeat> decode_heartbeat(std::string_view body);

/// Copies what the audit stores with a request's outcome from the request into its final,
/// error or verdict: the API key fields (key_id, key_name) and the request's receipt time.
template <class Outcome>
void copy_request_fields(const request_message& from, Outcome& to) {
    to.key_id = from.key_id;
    to.key_name = from.key_name;
    to.request_received_at_ms = from.received_at_ms;
}

/// Ollama model names are name[:tag] with the tag defaulting to "latest"; "llama3" and
/// "llama3:latest" are the same model.
std::string normalize_model_name(std::string_view name);

}  // namespace llmp
