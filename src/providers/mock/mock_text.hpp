#pragma once
// The mock provider's deterministic answer. Shared with the fake Ollama server under
// tests/support so that an end-to-end test can compute, for any prompt, the exact text a client
// must receive through either provider. Pure functions, any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::providers {

/// n tokens derived from the prompt: the first is a word, later ones start with a space, so the
/// concatenation reads as a sentence. Same prompt and n, same tokens, on every host.
std::vector<std::string> mock_tokens(std::string_view prompt, int n);

/// The concatenation of mock_tokens(prompt, n).
std::string mock_text(std::string_view prompt, int n);

/// Prompt size in "tokens": the number of whitespace-separated words (at least 1).
std::int64_t mock_prompt_tokens(std::string_view prompt);

}  // namespace llmp::providers
