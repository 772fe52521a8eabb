#pragma once
// The replies of POST /v1/responses (the OpenAI Responses API), as the official SDKs read them
// (openai-node lib/responses/ResponseStream, ResponseAccumulator):
//   stream:   SSE events, each `event: <type>` + one `data:` line, every one with a
//             sequence_number counted from 0: response.created, response.in_progress; with the
//             first token response.output_item.added (the message), response.content_part.added,
//             then response.output_text.delta per token; at the end output_text.done,
//             content_part.done, output_item.done, then per tool call (they come with the final)
//             output_item.added, function_call_arguments.delta, function_call_arguments.done,
//             output_item.done, and last response.completed (response.incomplete when the token
//             limit cut it). A failure after the start: `error`, then response.failed, and the end.
//   no stream: one Response object (responses_objects.hpp).
//   errors:   OpenAI's error object (openai_error_response).
// One renderer per request, used on its strand only.

#include "api/stream_renderer.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

namespace llmp::api {

struct responses_reply_options {
    bool stream = false;
    std::string model;  ///< echoed as the client sent it
    nlohmann::json echo = nlohmann::json::object();
    /// Called with the request id when the generation ended with a final or an error (the
    /// route remembers it, so a read of the response right after waits for the audit to store it).
    std::function<void(const std::string&)> on_finished;
};

std::unique_ptr<stream_renderer> make_responses_renderer(responses_reply_options o);

}  // namespace llmp::api
