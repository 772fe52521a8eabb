#pragma once
// The objects of the OpenAI Responses API as the official SDKs read them (openai-node
// resources/responses): the Response object ({id, object:"response", created_at, status, model,
// output, usage, error, incomplete_details, and the request's fields echoed}) and its output
// items (a "message" with one output_text part; one "function_call" per tool call). The same
// functions build the reply of POST /v1/responses, the snapshots of its stream and GET
// /v1/responses/{id} from the audit's rows, so all three agree: item ids are derived from the
// request id, not drawn at random.
// Pure functions, any thread.

#include "common/messages.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace llmp::api {

/// How a generation ended (or that it has not yet), in the Response object's terms.
struct response_outcome {
    /// queued | in_progress | completed | incomplete | failed | cancelled
    std::string status = "in_progress";
    std::string text;                                     ///< in_progress: a background generation's text so far
    nlohmann::json tool_calls = nlohmann::json::array();  ///< contract shape (common/tool_calls.hpp)
    bool has_usage = false;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::string error_code;  ///< failed only
    std::string error_message;
    std::int64_t completed_at = 0;  ///< unix seconds; 0 = not completed
};

/// completed, or incomplete when the output token limit cut it ("length").
response_outcome outcome_of(const final_message& f, const std::string& text, std::int64_t completed_at);

/// What does not depend on the outcome.
struct response_head {
    std::string request_id;
    std::int64_t created_at = 0;  ///< unix seconds
    std::string model;            ///< as the client sent it
    nlohmann::json echo;          ///< responses_request::echo
};

nlohmann::json response_object(const response_head& h, const response_outcome& o);

std::string message_item_id(const std::string& request_id);
std::string function_call_item_id(const std::string& request_id, std::size_t index);

/// The assistant message item with `text` (status in_progress while streaming, else completed).
nlohmann::json message_item(const std::string& request_id, const std::string& text, const std::string& status);
/// The function_call item of one contract-shape call.
nlohmann::json function_call_item(const std::string& request_id, std::size_t index, const nlohmann::json& call,
                                  const std::string& status, bool with_arguments = true);
/// The output of an outcome: the message when there is text or no call, then one item per call.
nlohmann::json output_items(const std::string& request_id, const response_outcome& o);

/// The assistant's turn of a stored outcome as the conversation continues it (Ollama-shaped,
/// tool calls with their arguments as objects), for previous_response_id.
nlohmann::json assistant_message(const response_outcome& o);

}  // namespace llmp::api
