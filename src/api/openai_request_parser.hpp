#pragma once
// Validation of OpenAI-style request bodies (POST /v1/chat/completions, /v1/completions) and
// their translation into the request_message every provider understands: options in Ollama's
// names (max_tokens -> num_predict, ...), content parts joined into one string, assistant
// tool_calls with their arguments parsed into objects and tool messages named (Ollama's
// shape); tools, tool_choice and parallel_tool_calls checked and kept in `extra`. Pure
// functions, any thread. Every rejection is an llmp::error whose code maps to 400.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <string_view>

namespace llmp::api {

/// The most choices one /v1/chat/completions request may ask for (`n`). OpenAI allows 128;
/// here each choice of an Ollama-served model is a generation of its own (README "Several
/// choices").
inline constexpr int max_openai_choices = 16;

struct openai_request {
    request_message msg;         ///< api_flavour "openai"; ids and client fields left for the caller
    bool include_usage = false;  ///< stream_options.include_usage: send the usage chunk before [DONE]
    int n = 1;                   ///< choices asked for (chat only; msg.extra.n when > 1)
};

/// `kind` chat = /v1/chat/completions (messages), generate = /v1/completions (prompt).
result<openai_request> parse_openai_request(std::string_view body, request_kind kind);

}  // namespace llmp::api
