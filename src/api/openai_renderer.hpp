#pragma once
// The OpenAI-compatible replies (POST /v1/chat/completions, /v1/completions), exactly as the
// official SDKs parse them (protocols.md §2):
//   stream:   data: {chunk}\n\n ... (role first, finish_reason on the last choice chunk, the usage
//             chunk when include_usage) then data: [DONE]\n\n and the end of the body; tool
//             calls (they come with the final) as delta.tool_calls chunks before the finish, and
//             the tokens' logprobs (also with the final) as one chunk with an empty delta; no
//             event:/id: lines; keep-alives are SSE comments; an error after the start is one
//             data: {"error": {...}} event and the end of the body (no [DONE]).
//   no stream: one chat.completion / text_completion object with usage (choices[0].logprobs
//             {content, refusal} when the final has logprobs).
//   n > 1 (chat): every chunk's choice carries its index (a role chunk per choice first, then
//             the tokens of all choices as they come); at the end each choice's tool-call and
//             logprobs chunks and its finish chunk, in index order, then the usage (every
//             choice's completion tokens); whole: `choices` holds the n choices in index order.
//   errors:   {"error": {"message", "type", "param", "code"}}; statuses from common/errc.hpp.

#include "api/stream_renderer.hpp"

#include <memory>
#include <string>

namespace llmp::api {

struct openai_reply_options {
    request_kind kind = request_kind::chat;  ///< chat -> chat.completion*, generate -> text_completion
    bool stream = false;
    bool include_usage = false;
    std::string model;  ///< echoed as the client sent it
    int n = 1;          ///< choices (chat, n > 1): streamed by index, each with its finish chunk
};

std::unique_ptr<stream_renderer> make_openai_renderer(openai_reply_options o);

/// An llmp::error as OpenAI's error object, with the status and Retry-After of its code
/// (common/errc.hpp). type: invalid_request_error below 500, server_error from 500, "requests"
/// with code rate_limit_exceeded for a 429; x-should-retry: false on a 5xx that is not retryable.
http_server::response openai_error_response(const llmp::error& e);

/// "stop", "length" or "tool_calls" (the finish reasons OpenAI clients know) for a final's
/// done_reason.
std::string openai_finish_reason(const std::string& done_reason);

}  // namespace llmp::api
