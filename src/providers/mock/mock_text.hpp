#pragma once
// The mock provider's deterministic answer. Shared with the fake upstreams (providers/testing)
// so that an end-to-end test can compute, for any prompt, the exact text a client
// must receive through either provider. Pure functions, any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::providers {

/// The tokens of mock_tokens(prompt, n), one at a time: the mock streams answers of any
/// length without holding them (an answer is never allocated up front from a client's number).
class mock_token_stream {
public:
    mock_token_stream(std::string_view prompt, std::int64_t n);
    bool done() const { return i_ >= n_; }
    std::int64_t size() const { return n_; }
    /// The next token; only while !done().
    std::string next();

private:
    std::uint64_t state_;
    std::int64_t n_;
    std::int64_t i_ = 0;
};

/// n tokens derived from the prompt: the first is a word, later ones start with a space, so the
/// concatenation reads as a sentence. Same prompt and n, same tokens, on every host.
std::vector<std::string> mock_tokens(std::string_view prompt, int n);

/// The concatenation of mock_tokens(prompt, n).
std::string mock_text(std::string_view prompt, int n);

/// Prompt size in "tokens": the number of whitespace-separated words (at least 1).
std::int64_t mock_prompt_tokens(std::string_view prompt);

}  // namespace llmp::providers
