#pragma once
// Validation of POST /v1/responses bodies (the OpenAI Responses API) and their translation into
// the request_message every provider understands, the same as a chat completion's:
//   input          a string (one user message) or items: messages (role, content as a string or
//                  input_text/output_text parts), function_call and function_call_output items
//                  -> Ollama-shaped messages (assistant tool_calls, tool messages), and the same
//                  items normalized, each with an id, for GET /v1/responses/{id}/input_items
//   instructions   -> extra.system (a system message for this request only: a later request
//                  that continues it with previous_response_id does not inherit it)
//   tools          function tools {type, name, description, parameters, strict} -> extra.tools
//                  in chat-completions shape; tool_choice, parallel_tool_calls likewise
//   text.format    -> extra.format and extra.response_format, as response_format does
//   max_output_tokens -> num_predict; temperature, top_p; stream; store (default true);
//   background (needs store, not with stream);
//   previous_response_id (resolved by the route: the stored conversation goes before the input)
// What the Response object repeats back (instructions, tools, text, ...) is kept in `echo`; the
// route stores echo, input items and store in extra.responses, so the audit row holds all a
// later GET needs (workers drop unknown extra keys before the upstream).
// Pure functions, any thread. Every rejection is an llmp::error whose code maps to 400.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace llmp::api {

struct responses_request {
    request_message msg;  ///< api_flavour "openai", kind chat; messages of this input only
    /// The request's fields as the Response object repeats them: instructions, tools,
    /// tool_choice, parallel_tool_calls, temperature, top_p, max_output_tokens, text,
    /// previous_response_id, store, metadata, user (absent ones as OpenAI's defaults).
    nlohmann::json echo = nlohmann::json::object();
    nlohmann::json input_items = nlohmann::json::array();  ///< normalized, each with an id
    std::string previous_response_id;                      ///< as sent ("resp_..."); empty = none
    bool store = true;
    /// Queued and answered at once; the generation runs whether or not anyone listens
    /// (published under broker::background_server_id). Needs store; not with stream.
    bool background = false;
};

result<responses_request> parse_responses_request(std::string_view body);

/// Tool messages without a tool_name get the name of the assistant call they answer, looked up
/// in the messages before them (a call may be in the stored conversation of an earlier response).
void name_tool_results(nlohmann::json& messages);

/// "resp_<request id>" <-> the request id; "" when `response_id` is not one of ours.
std::string response_id_of(const std::string& request_id);
std::string request_id_of_response(std::string_view response_id);

}  // namespace llmp::api
