#pragma once
// Provider configuration (LevelDB Options style: every field has a default and a comment).
// Filled by programs/worker.cpp from flags and environment.

#include <chrono>
#include <string>
#include <vector>

namespace llmp::providers {

struct mock_config {
    /// Models the mock claims to serve.
    std::vector<std::string> models{"mock"};
    /// Tokens per answer unless the request sets options.num_predict.
    int tokens = 32;
    /// Delay before each token (and before the first). 0 = as fast as possible.
    std::chrono::microseconds token_delay{std::chrono::milliseconds{5}};
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
};

}  // namespace llmp::providers
