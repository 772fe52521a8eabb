#pragma once
// Ollama wire format helpers used by ollama_provider: building request bodies and parsing the
// NDJSON lines of a streamed answer. Pure; one stream_parser per stream (not thread-safe).

#include "common/result.hpp"
#include "providers/provider.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::providers::ollama {

/// The JSON body of POST /api/chat or /api/generate for `req` (always stream:true, and always
/// options.num_predict = token_limit_for(req, req.max_tokens)). `req` has been through
/// apply_upstream_policy: its options and extra keys are passed on as they are, except OpenAI's
/// tool_choice (Ollama has none: "none" drops the tools, a named function keeps only that tool)
/// and parallel_tool_calls and response_format (dropped: `format` says it in Ollama's terms).
std::string request_body(const generation_request& req);

/// The JSON body of POST /api/embed for an embed request: model, input, and what the policy
/// left of truncate, dimensions, keep_alive and options.
std::string embed_request_body(const generation_request& req);

/// POST /api/embed's answer ({"embeddings": [[...]], "prompt_eval_count", durations}) as a
/// completion; upstream_error when it holds no list of vectors.
result<completion> parse_embed_response(std::string_view body);

/// One parsed line of a streamed answer. Views are valid until the next parse().
struct stream_line {
    bool has_error = false;
    std::string_view error;       ///< {"error": "..."}
    std::string_view delta;       ///< message.content (chat) or response (generate)
    std::string_view tool_calls;  ///< message.tool_calls as raw JSON text ("" when absent)
    std::string_view logprobs;    ///< logprobs (this line's tokens) as raw JSON text ("" when absent)
    bool done = false;
    std::string_view done_reason;
    // Ollama's figures (ns durations and token counts), present on the done:true line.
    std::optional<std::int64_t> total_duration;
    std::optional<std::int64_t> load_duration;
    std::optional<std::int64_t> prompt_eval_count;
    std::optional<std::int64_t> prompt_eval_duration;
    std::optional<std::int64_t> eval_count;
    std::optional<std::int64_t> eval_duration;
};

/// Ollama's logprobs ([{token, logprob, bytes?, top_logprobs?:[{token, logprob, bytes?}]}], the
/// optional fields omitted when empty) in OpenAI's shape (completion::logprobs): bytes always
/// present (the token's UTF-8 bytes when Ollama left them out), top_logprobs always an array.
/// Entries that are not objects with a string token are dropped.
nlohmann::json logprobs_to_openai(const nlohmann::json& ollama);

/// The figures present in `line` as a JSON object (completion::provider_metrics).
nlohmann::json metrics_json(const stream_line& line);

/// Parses NDJSON lines with simdjson On-Demand (one reusable buffer, no per-line allocation).
class stream_parser {
public:
    stream_parser();
    ~stream_parser();
    stream_parser(const stream_parser&) = delete;
    stream_parser& operator=(const stream_parser&) = delete;

    /// Fails (code "upstream_error") if the line is not a JSON object.
    result<stream_line> parse(std::string_view line);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::providers::ollama
