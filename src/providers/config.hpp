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

struct provider_config {
    /// mock | ollama
    std::string type = "mock";
    mock_config mock;
    ollama_config ollama;
};

}  // namespace llmp::providers
