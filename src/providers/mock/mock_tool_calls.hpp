#pragma once
// mock_tool_calls: when and how the mock provider and the fake upstreams (testing/fake_ollama,
// testing/fake_openai) answer with tool calls instead of text, one rule for all so that a test
// can expect the same calls whichever of them a request reaches:
//   - the request has a non-empty `tools` array and its last message is not a `tool` message
//     (a tool result gets a text answer, as a model summarising it would);
//   - OpenAI's tool_choice "none" means text; {"type":"function","function":{"name":N}} calls
//     only N; otherwise every tool is called once, in order (at most 3);
//   - each call's arguments fill the function's parameters.properties: a string property gets
//     the prompt text (the last user message), an integer or number 42, a boolean true, any
//     other type null.
// Ids are Ollama-like ("call_" + 8 hex digits, counted per process). Pure apart from that
// counter (atomic); any thread.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace llmp::providers {

struct mock_call {
    std::string id;
    std::string name;
    nlohmann::json arguments;  ///< an object
};

/// Structured output: the answer's tokens when the request asks for JSON (Ollama's `format`:
/// "json" or a JSON schema), else empty. "json" gives {"answer": mock_text(prompt, n)}; a schema
/// fills its properties (a string with mock_text(prompt, n), an integer or number 42, a boolean
/// true, anything else null). The JSON text is cut into pieces of up to 8 bytes.
std::vector<std::string> mock_json_tokens(const nlohmann::json& format, const std::string& prompt, int n);

/// The calls to answer a chat with (its `tools`, OpenAI's `tool_choice` or null, its messages
/// and prompt text); empty = answer with text.
std::vector<mock_call> mock_tool_calls(const nlohmann::json& tools, const nlohmann::json& tool_choice,
                                       const nlohmann::json& messages, const std::string& prompt);

}  // namespace llmp::providers
