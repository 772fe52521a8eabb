#pragma once
// fake_logprobs: the log probabilities fake_ollama and fake_openai give the tokens of an answer
// when a request asks for them (`logprobs: true`, `top_logprobs: k`), deterministic so that a
// test can predict every number. Both APIs name the fields alike ({token, logprob, bytes,
// top_logprobs: [{token, logprob, bytes}]}); Ollama omits an empty top_logprobs (Go omitempty),
// OpenAI always sends the array. Pure; any thread.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace llmp::providers::testing {

/// The logprob of the i-th token (0-based) of an answer: -(i + 1) / 8, exact in binary.
inline double fake_token_logprob(std::size_t i) {
    return -static_cast<double>(i + 1) / 8.0;
}

/// The entry of the i-th token `token`: its logprob, its UTF-8 bytes, and `top_k` alternatives
/// (the token itself first, then "alt1", "alt2", ... each one less likely by 1).
inline nlohmann::json fake_logprob_entry(const std::string& token, std::size_t i, int top_k, bool omit_empty_top) {
    auto bytes_of = [](const std::string& s) {
        nlohmann::json b = nlohmann::json::array();
        for (unsigned char ch : s) {
            b.push_back(static_cast<int>(ch));
        }
        return b;
    };
    const double lp = fake_token_logprob(i);
    nlohmann::json entry{{"token", token}, {"logprob", lp}, {"bytes", bytes_of(token)}};
    nlohmann::json top = nlohmann::json::array();
    for (int k = 0; k < top_k; ++k) {
        std::string alt = k == 0 ? token : "alt" + std::to_string(k);
        top.push_back({{"token", alt}, {"logprob", lp - k}, {"bytes", bytes_of(alt)}});
    }
    if (!top.empty() || !omit_empty_top) {
        entry["top_logprobs"] = std::move(top);
    }
    return entry;
}

}  // namespace llmp::providers::testing
