#pragma once
// Validation of Anthropic Messages API request bodies (POST /v1/messages) and their translation
// into the request_message every provider understands, the same shape the OpenAI door makes:
//   system (a string or text blocks)       -> a first {"role": "system"} message
//   messages[].content (a string or blocks) -> Ollama-shaped messages: text blocks joined;
//       an assistant's tool_use blocks      -> its tool_calls ({id, function:{index, name, arguments:{input}}})
//       a user's tool_result blocks         -> one {"role": "tool", tool_call_id, tool_name} message
//                                              each, before the user's text (is_error: "Error: " first)
//   max_tokens (required, as Anthropic requires) -> options.num_predict; stop_sequences -> options.stop;
//   temperature (0..1), top_p, top_k        -> the options of those names
//   tools [{name, description, input_schema}] -> extra.tools in OpenAI's function shape;
//   tool_choice auto | any | tool | none    -> extra.tool_choice "auto" | "required" | {function} | "none";
//       disable_parallel_tool_use           -> extra.parallel_tool_calls false
//   metadata.user_id                        -> extra.user (kept for the audit)
// Blocks other than text, tool_use and tool_result (images, documents, thinking) and server
// tools are refused. Fields this server has no use for (thinking, service_tier, ...) are ignored.
// Pure functions, any thread. Every rejection is an llmp::error whose code maps to 400.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <string_view>

namespace llmp::api {

/// The request as every provider takes it: api_flavour "anthropic", kind chat, stream false
/// unless asked; ids and client fields left for the caller.
result<request_message> parse_anthropic_request(std::string_view body);

}  // namespace llmp::api
