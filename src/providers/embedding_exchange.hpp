#pragma once
// embedding_exchange: one embeddings call to an HTTP upstream (Ollama's POST /api/embed, an
// OpenAI-compatible POST /v1/embeddings) as a generation: the request is sent, the whole JSON
// answer read (bounded) and handed to the wire format's parser, which gives the completion
// (vectors in completion::embeddings, input tokens in prompt_tokens). No tokens are emitted.
// Cancel, timeouts, connection pooling and the error mapping are http_stream_generation's.
//
// Also the mock's vectors (mock_embedding): a pure function the mock provider and the fake
// upstreams share, so a test can tell which text a vector was made from.
//
// Threading: as http_stream_generation (everything on the generation's strand).

#include "providers/http_stream_generation.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::providers {

/// The largest embeddings answer read (a batch of large vectors as JSON text).
inline constexpr std::size_t max_embedding_body = std::size_t{64} << 20;

struct embedding_call {
    std::string path;                                          ///< e.g. "/api/embed"
    std::string body;                                          ///< the JSON request
    std::vector<std::pair<std::string, std::string>> headers;  ///< e.g. Authorization
    /// The 200 answer's body -> the completion (or an upstream_error).
    std::function<result<completion>(std::string_view body)> parse;
    /// A non-200 answer -> the error to report (the format's own error text).
    std::function<error(const http_client::response_head& head, std::string_view body)> status_error;
};

class embedding_exchange final : public http_stream_generation {
public:
    embedding_exchange(std::shared_ptr<const http_client::client> c, net::any_io_executor ex,
                       const std::string& request_id, std::string provider, std::string peer, embedding_call call,
                       generation_callbacks cb);

private:
    http_client::outgoing_request make_request() override;
    error status_error(const http_client::response_head& head, std::string_view body) override;
    result<void> feed(std::string_view piece) override;
    void body_ended() override;
    completion take_completion() override { return std::move(completion_); }

    embedding_call call_;
    std::string answer_;
    completion completion_;
};

/// The mock's vector for `text`: `dimensions` numbers (8 when 0), unit length, the same for the
/// same text and dimensions; its first component is positive and grows with the text's length
/// (so tests can tell batched inputs apart and check their order).
nlohmann::json mock_embedding(std::string_view text, std::size_t dimensions);

}  // namespace llmp::providers
