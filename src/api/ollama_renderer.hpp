#pragma once
// The Ollama-compatible replies (POST /ollama/api/chat, /ollama/api/generate), shaped like a real
// Ollama server's (protocols.md §1):
//   stream:    application/x-ndjson, one object per line: {model, created_at, message|response,
//              done:false} per token, then the final object with done:true, done_reason and the
//              counts and nanosecond durations; an error after the start is one {"error": "..."}
//              line and the end of the body (no done:true). NDJSON has no comment line, so there
//              is no keep-alive.
//   no stream: the final object with the whole text.
//   logprobs:  when the final has them (the request asked with logprobs: true), a top-level
//              "logprobs" list of every token's on the final object (streamed: on the done:true
//              line; the chunks carry text only).
//   errors:    {"error": "..."} (404: `model "x" not found, try pulling it first`), with the
//              statuses of common/errc.hpp, which agree with Ollama's (400, 404, 503 busy, 500).

#include "api/stream_renderer.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace llmp::api {

std::unique_ptr<stream_renderer> make_ollama_renderer(request_kind kind, bool stream, std::string model);

/// An llmp::error as Ollama answers one ({"error": "..."}), with its code's status and
/// Retry-After (common/errc.hpp); `model` names the model in a 404.
http_server::response ollama_error_response(const llmp::error& e, const std::string& model = {});

/// Go's time.Time in RFC 3339 with nanoseconds, trailing zeros trimmed, UTC: "2025-03-14T09:26:53.56523Z".
std::string ollama_timestamp(std::chrono::system_clock::time_point t);

/// The final object's figures (total_duration, load_duration, prompt_eval_count,
/// prompt_eval_duration, eval_count, eval_duration): the upstream Ollama's own where the
/// provider passed them on, otherwise derived from the counts and the measured times.
nlohmann::json ollama_final_metrics(const final_message& f, const relay_timings& t);

}  // namespace llmp::api
