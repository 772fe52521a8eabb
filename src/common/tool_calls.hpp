#pragma once
// tool_calls: the function calls a model answered with, in the one shape the message contract
// carries (final_message::tool_calls), and its translation to and from the two wire shapes.
//
// Contract shape (OpenAI's, because its arguments are the model's text as generated and so lose
// nothing): an array of
//   {"id": "call_...", "type": "function", "function": {"name": "...", "arguments": "<JSON text>"}}
// Ollama's shape: {"id"?, "function": {"index": i, "name": "...", "arguments": {<object>}}}.
//
// Pure functions, any thread. Input from an upstream is untrusted: odd entries are skipped or
// completed (a missing id is made up), never thrown on.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace llmp {

/// A fresh tool call id the way Ollama makes them: "call_" and 8 lower-case letters or digits.
std::string new_tool_call_id();

/// Ollama-shaped calls (message.tool_calls of an Ollama answer) -> contract shape. Calls without
/// a function name are skipped; arguments objects become their JSON text.
nlohmann::json tool_calls_from_ollama(const nlohmann::json& calls);

/// Contract shape -> Ollama's (arguments parsed back into an object; text that is not a JSON
/// object becomes {} — Ollama's clients expect an object), with function.index = position.
nlohmann::json tool_calls_to_ollama(const nlohmann::json& calls);

/// Assembles the streamed `delta.tool_calls` fragments of an OpenAI-compatible answer the way
/// the OpenAI SDK does (ChatCompletionStream): per `index`, id/type/name replaced when sent,
/// arguments concatenated. One per stream; not thread-safe.
class tool_call_assembler {
public:
    /// Adds one delta's `tool_calls` array (anything else is ignored).
    void add(const nlohmann::json& delta_tool_calls);
    bool empty() const { return calls_.empty(); }
    /// The calls in index order, in contract shape (missing ids made up, names kept as sent).
    nlohmann::json take();

private:
    nlohmann::json calls_ = nlohmann::json::object();  ///< index (as text, zero-padded) -> call
};

}  // namespace llmp
