#pragma once
// upstream_policy: what of a client's request may reach the upstream. The worker applies it to
// every generation_request before the provider (mock, Ollama, OpenAI-compatible, pool) sees it,
// so one function decides for every wire format:
//  - options: an allow-list of sampling options; num_ctx clamped to the operator's ceiling;
//    load/hardware options (num_gpu, use_mmap, ...) only when the operator allows them;
//  - pass-through keys: keep_alive, template, raw, context only when allowed; unknown keys dropped;
//  - images: data: URLs and base64 only, unless remote images are allowed (an http:// URL would
//    make an OpenAI-compatible server such as vLLM fetch it: server-side request forgery);
//  - generation length: max_tokens set from the per-model cap; token_limit_for() tells each
//    provider how many tokens to ask for.
// Pure functions; any thread.

#include "common/result.hpp"
#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace llmp::providers {

/// Filters `req` in place as described above and sets req.max_tokens. `keep_mock_options`
/// keeps the mock's own `mock_*` options (the mock provider reads them; no upstream does).
/// Fails (code "invalid_field", not retryable) on a remote image URL that is not allowed, or a
/// content part of a type other than text / image_url: the answer would silently ignore it.
result<void> apply_upstream_policy(generation_request& req, const upstream_policy& policy, bool keep_mock_options);

/// "MODEL=N" (--max-tokens-for): the model's name normalized (name:tag) and N in 1..2^30.
result<std::pair<std::string, std::int64_t>> parse_model_cap(std::string_view spec);

/// The cap for `model` (normalized): its max_tokens_for entry, else max_tokens.
std::int64_t max_tokens_for_model(const upstream_policy& policy, const std::string& model);

struct token_limit {
    std::int64_t n = 0;   ///< how many tokens to ask for (1 .. req.max_tokens)
    bool capped = false;  ///< the client asked for more (or for no limit): reaching n is "length"
};

/// How many tokens to generate for `req`: options.num_predict when it is a positive number
/// within req.max_tokens; req.max_tokens when it is above (or Ollama's -1 "infinite" / -2 "fill
/// the context", capped = true); `absent` (clamped to the cap) when there is none. The mock
/// passes its configured answer length as `absent`, the upstream providers req.max_tokens: a
/// missing num_predict must not mean unbounded generation through the proxy.
token_limit token_limit_for(const generation_request& req, std::int64_t absent);

}  // namespace llmp::providers
