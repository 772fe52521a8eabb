#pragma once
// Provider configuration (LevelDB Options style: every field has a default and a comment).
// Filled by programs/worker.cpp from flags and environment.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace llmp::providers {

struct mock_config {
    /// Models the mock claims to serve.
    std::vector<std::string> models{"mock"};
    /// Tokens per answer unless the request sets options.num_predict.
    int tokens = 32;
    /// Delay before each token (and before the first). 0 = as fast as possible.
    std::chrono::microseconds token_delay{std::chrono::milliseconds{5}};
    /// Test only (--enable-test-triggers): `[[mock:abort]]` in a prompt aborts the process and
    /// `[[mock:throw]]` throws std::bad_alloc, so tests can play a poison message. Off by
    /// default: a client must never be able to kill a production worker.
    bool test_triggers = false;
};

/// What the operator lets a client's request ask of the upstream (providers/upstream_policy.hpp).
/// A client's options can otherwise force model reloads, VRAM exhaustion or, through image
/// URLs, make an OpenAI-compatible server fetch arbitrary addresses.
struct upstream_policy {
    /// Most tokens one generation may produce; num_predict / max_tokens above it (or Ollama's
    /// unbounded -1 / -2, or none at all) are clamped to it and sent to the upstream.
    std::int64_t max_tokens = 4096;
    /// Per-model caps ("name:tag" as normalize_model_name gives it) overriding max_tokens.
    std::vector<std::pair<std::string, std::int64_t>> max_tokens_for;
    /// Ceiling for options.num_ctx (the context window, which sizes the upstream's KV cache).
    std::int64_t max_num_ctx = 8192;
    /// Load/hardware options (num_gpu, main_gpu, num_thread, use_mmap, ...) and pass-through keys
    /// (keep_alive, template, raw, context) a client may set; every other one is dropped.
    std::vector<std::string> allowed_client_options;
    /// Pass http:// and https:// image URLs on; otherwise only data: URLs and base64 images.
    bool allow_remote_images = false;
};

struct ollama_config {
    /// Base URL of the Ollama server.
    std::string url = "http://127.0.0.1:11434";
    /// Connect timeout for each upstream connection.
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest silence allowed between two bytes of a streaming response.
    std::chrono::milliseconds idle_timeout{300000};
    /// Idle keep-alive connections kept per host for reuse.
    int max_idle_connections = 64;
};

struct openai_config {
    /// Base URL of the OpenAI-compatible server. A URL without a path gets "/v1" appended
    /// (http://host:8000 = http://host:8000/v1); a URL with a path is used as given.
    std::string url = "http://127.0.0.1:8000/v1";
    /// Sent as "Authorization: Bearer <key>" when non-empty. Filled from the environment
    /// (LLMPROXY_OPENAI_API_KEY, else OPENAI_API_KEY), never from a flag; never logged.
    std::string api_key;
    /// Connect timeout for each upstream connection.
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest silence allowed between two bytes of a streaming response.
    std::chrono::milliseconds idle_timeout{300000};
    /// Idle keep-alive connections kept per host for reuse.
    int max_idle_connections = 64;
};

/// One upstream of a pool: "ollama=http://a:11434" or "openai=http://c:8000/v1".
struct upstream_config {
    std::string type;  ///< ollama | openai
    std::string url;
};

struct provider_config {
    /// mock | ollama | openai (ignored when `upstreams` is not empty)
    std::string type = "mock";
    mock_config mock;
    ollama_config ollama;
    openai_config openai;
    /// Several upstreams behind one worker (the pool provider); empty = the single `type`.
    /// Each one takes the timeouts of ollama/openai above, with its own URL.
    std::vector<upstream_config> upstreams;
    /// Pool: an upstream that refused a connection is skipped for this long, then tried again.
    std::chrono::milliseconds upstream_retry_after{5000};
    /// Applied by the worker to every request before any provider sees it.
    upstream_policy policy;
};

}  // namespace llmp::providers
