#pragma once
// The Anthropic Messages API replies (POST /v1/messages), as the official SDKs parse them
// (@anthropic-ai/sdk: core/streaming.ts, lib/MessageStream.ts):
//   stream:   named SSE events, each `event: <type>` + `data: {"type": "<type>", ...}`:
//             message_start (the message with empty content, usage), ping, then per content
//             block content_block_start / content_block_delta (text_delta, or input_json_delta
//             for a tool_use) / content_block_stop, then message_delta (stop_reason,
//             stop_sequence, usage) and message_stop. The text block opens with the first token;
//             tool calls (they come with the final) follow as tool_use blocks, their input JSON
//             in one input_json_delta. Keep-alives are ping events; an error after the start is
//             one `event: error` with the error object, and the end of the body.
//   no stream: one {"type": "message", "role": "assistant", "content": [blocks], "stop_reason",
//             "stop_sequence", "usage"} object.
//   errors:   {"type": "error", "error": {"type", "message"}}; statuses from common/errc.hpp.
// stop_reason: end_turn, max_tokens (done_reason "length"), tool_use ("tool_calls"), and
// stop_sequence only for a done_reason "stop_sequence": the upstreams (Ollama, OpenAI) do not
// say whether a stop sequence or the model ended an answer.
// A renderer is made per request and used on its strand only.

#include "api/stream_renderer.hpp"

#include <memory>
#include <string>

namespace llmp::api {

struct anthropic_reply_options {
    bool stream = false;
    std::string model;  ///< echoed as the client sent it
};

std::unique_ptr<stream_renderer> make_anthropic_renderer(anthropic_reply_options o);

/// An llmp::error as Anthropic's error object, with the status and Retry-After of its code
/// (common/errc.hpp); the type follows the status (anthropic_error_type); x-should-retry: false
/// on a 5xx that is not retryable (the SDKs would retry it otherwise).
http_server::response anthropic_error_response(const llmp::error& e);

/// Anthropic's error type for an HTTP status: 400 (and other 4xx) invalid_request_error,
/// 401 authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
/// 429 rate_limit_error, 503 overloaded_error, 504 timeout_error, other 5xx api_error.
std::string_view anthropic_error_type(int http_status);

/// end_turn, max_tokens, tool_use or stop_sequence for a final's done_reason.
std::string_view anthropic_stop_reason(const std::string& done_reason);

}  // namespace llmp::api
