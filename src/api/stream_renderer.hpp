#pragma once
// stream_renderer: how one API flavour writes a generation to its client. The relay
// (relay.hpp) is the same for every route; only the bytes differ:
//   native  /api/chat, /api/generate                SSE events start/token/done/error, or one JSON object
//   OpenAI  /v1/chat/completions, /v1/completions   data: chunks + [DONE] (openai_renderer)
//   Ollama  /ollama/api/chat, /ollama/api/generate  NDJSON (ollama_renderer)
// A renderer is made per request, used on that request's strand only.

#include "common/messages.hpp"
#include "common/result.hpp"
#include "http/server.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::api {

/// What the relay measured for one request, from the API's point of view.
struct relay_timings {
    std::string request_id;
    double ttft_ms = 0;   ///< request received -> first token relayed
    double total_ms = 0;  ///< request received -> end
};

class stream_renderer {
public:
    virtual ~stream_renderer() = default;

    /// The request asked for a stream (SSE/NDJSON) rather than one JSON reply.
    virtual bool streaming() const = 0;
    virtual std::string_view content_type() const = 0;
    /// Extra headers of a streamed reply (besides X-Request-Id).
    virtual std::vector<std::pair<std::string, std::string>> stream_headers() const { return {}; }

    // Streamed replies: each appends bytes to `out`; the relay writes them in batches.
    virtual void start(std::string& out, const request_message& m) = 0;
    virtual void token(std::string& out, std::string_view text, std::int64_t seq) = 0;
    /// A token of choice `index` >= 1 of a request that asked for several (OpenAI's n > 1;
    /// token() is choice 0's). Only the OpenAI chat renderer has choices; the others never
    /// see such a token (their requests ask for one) and drop it.
    virtual void choice_token(std::string& /*out*/, int /*index*/, std::string_view /*text*/, std::int64_t /*seq*/) {}
    virtual void done(std::string& out, const final_message& f, const relay_timings& t) = 0;
    virtual void error(std::string& out, const error_message& e) = 0;
    /// Something harmless that keeps idle connections open (an SSE comment); may append nothing.
    virtual void keepalive(std::string& out) = 0;

    // Whole replies:
    virtual http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) = 0;
    /// An error before the stream started, or any error of a non-streamed request.
    virtual http_server::response failure(const llmp::error& e) = 0;
};

}  // namespace llmp::api
