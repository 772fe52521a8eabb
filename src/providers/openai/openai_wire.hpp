#pragma once
// OpenAI wire format helpers used by openai_provider (protocols.md §2): request bodies for
// /chat/completions and /completions, the chunks of a streamed answer, error objects and the
// model list. Pure functions; any thread.

#include "common/result.hpp"
#include "providers/provider.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::providers::openai {

/// The JSON body of POST /chat/completions (chat) or /completions (generate) for `req`, asking
/// for `upstream_model`, streamed, with usage in the stream:
///  - messages: Ollama-shaped {role, content, images?, tool_calls?, tool_name?, tool_call_id?}
///    become OpenAI messages (images -> image_url parts with data: URLs; tool_calls arguments ->
///    JSON strings, missing call ids made up; a tool message without tool_call_id paired with
///    the earliest unanswered call of its tool_name);
///    a chat `extra.system` becomes a leading system message;
///  - generate: `prompt` (after `extra.system` and a blank line, if set), `extra.suffix`;
///  - max_tokens: always, token_limit_for(req, req.max_tokens) (num_predict within the cap);
///  - options: temperature, top_p, stop, seed as they are;
///    every other option is dropped (OpenAI-compatible servers reject unknown fields);
///  - extra: an OpenAI client's response_format as sent, else format "json" -> response_format
///    json_object, a format schema -> json_schema;
///    tools, tool_choice and parallel_tool_calls passed on; logprobs (true) and top_logprobs on
///    chat; n (chat, extra.n > 1); everything else dropped.
std::string request_body(const generation_request& req, const std::string& upstream_model);

/// The JSON body of POST /embeddings for an embed request: model (the upstream's id), input,
/// encoding_format "float" (the vectors are carried as numbers), and dimensions when asked.
std::string embed_request_body(const generation_request& req, const std::string& upstream_model);

/// POST /embeddings' answer ({"data":[{"index","embedding"}], "usage"}) as a completion, the
/// vectors in index order; an embedding sent as base64 (float32, little-endian) is decoded.
/// upstream_error when it holds no such list.
result<completion> parse_embed_response(std::string_view body);

/// One parsed `data:` event of a streamed answer. The choice fields are its first choice's.
struct stream_chunk {
    bool has_error = false;
    std::string error;          ///< error.message of a {"error":{...}} event
    int index = 0;              ///< choices[0].index (n > 1); -1 when out of range
    std::string delta;          ///< choices[0].delta.content (chat) or choices[0].text (completions)
    std::string finish_reason;  ///< "" while the choice is not finished
    nlohmann::json tool_calls;  ///< choices[0].delta.tool_calls as sent (fragments), null when absent
    nlohmann::json logprobs;    ///< choices[0].logprobs.content as sent (this chunk's tokens), null when absent
    /// choices[1..] of the same event (their choice fields only); empty as OpenAI and vLLM send.
    std::vector<stream_chunk> others;
    bool has_usage = false;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    nlohmann::json usage;  ///< the usage object as sent (details included), when has_usage
};

/// Parses the data of one event (not "[DONE]"). Fails (code "upstream_error") if it is not a
/// JSON object.
result<stream_chunk> parse_chunk(std::string_view data);

/// The error.code / error.type of an error body ("" when absent).
std::string error_code(std::string_view body);

/// The ids of a GET /models answer {"object":"list","data":[{"id":...}]}; nullopt if the body
/// is not such a list.
std::optional<std::vector<std::string>> model_ids(std::string_view body);

}  // namespace llmp::providers::openai
