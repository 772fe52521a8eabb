#include "providers/mock/mock_text.hpp"

#include <array>
#include <cctype>

namespace llmp::providers {
namespace {

constexpr std::array<std::string_view, 32> words{
    "the",    "quick",  "brown",  "fox",     "jumps",  "over",   "a",     "lazy",  "dog",    "while",   "seven",
    "llamas", "stream", "tokens", "through", "rabbit", "queues", "and",   "every", "worker", "answers", "in",
    "order",  "with",   "care",   "so",      "no",     "client", "waits", "long",  "for",    "text"};

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

}  // namespace

mock_token_stream::mock_token_stream(std::string_view prompt, std::int64_t n)
    : state_{fnv1a(prompt)}, n_{n < 0 ? 0 : n} {}

std::string mock_token_stream::next() {
    // xorshift64*: cheap, deterministic, portable.
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    std::uint64_t r = state_ * 2685821657736338717ULL;
    std::string tok = i_ == 0 ? std::string{} : std::string{" "};
    tok += words[r % words.size()];
    if (++i_ == n_) {
        tok += '.';
    }
    return tok;
}

std::vector<std::string> mock_tokens(std::string_view prompt, int n) {
    std::vector<std::string> out;
    for (mock_token_stream s{prompt, n}; !s.done();) {
        out.push_back(s.next());
    }
    return out;
}

std::string mock_text(std::string_view prompt, int n) {
    std::string out;
    for (mock_token_stream s{prompt, n}; !s.done();) {
        out += s.next();
    }
    return out;
}

std::int64_t mock_prompt_tokens(std::string_view prompt) {
    std::int64_t count = 0;
    bool in_word = false;
    for (unsigned char c : prompt) {
        bool space = std::isspace(c) != 0;
        if (!space && !in_word) {
            ++count;
        }
        in_word = !space;
    }
    return count == 0 ? 1 : count;
}

}  // namespace llmp::providers
