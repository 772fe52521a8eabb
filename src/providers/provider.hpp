#pragma once
// The provider interface: the seed's LLMProviderInterface (init, getModels, generate, chat with
// onToken / onComplete / onError) made asynchronous on Asio. Chat and generate are one start():
// every provider did the same for both, the request's `kind` telling them apart.
//
// Threading: a provider is built by make_provider() on the worker's io_context and lives as long
// as the worker. init() and models() are coroutines run on that io_context. start() returns at
// once (never calling back from inside); the generation runs on its own strand of that io_context, and the callbacks
// are invoked on that strand, one at a time, in order:
//   on_token* (and on_choice_token*, n > 1) then exactly one of on_complete / on_error.
// cancel() may be called from any thread; it makes the generation stop promptly (closing the
// upstream connection) and end with on_error(code "cancelled"), unless it had already ended.

#include "common/asio_fwd.hpp"
#include "common/chunk_frames.hpp"
#include "common/messages.hpp"
#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::providers {

/// What a worker asks a provider to do. Built from a request_message.
struct generation_request {
    std::string request_id;
    request_kind kind = request_kind::chat;
    std::string model;
    nlohmann::json messages = nlohmann::json::array();  ///< chat: Ollama-shaped messages
    std::string prompt;                                 ///< generate
    nlohmann::json input = nlohmann::json::array();     ///< embed: the texts (strings), in order
    nlohmann::json options = nlohmann::json::object();  ///< Ollama options (num_predict, ...)
    nlohmann::json extra = nlohmann::json::object();    ///< system, format, think, ... passthrough
    /// The operator's cap on generated tokens (apply_upstream_policy sets it per model): no
    /// provider asks its upstream for more (providers/upstream_policy.hpp, token_limit_for).
    std::int64_t max_tokens = 4096;
};

/// The generation a request message asks for (before the upstream policy is applied).
inline generation_request generation_request_of(const request_message& m) {
    generation_request g;
    g.request_id = m.request_id;
    g.kind = m.kind;
    g.model = m.model;
    g.messages = m.messages;
    g.prompt = m.prompt;
    g.input = m.input;
    g.options = m.options;
    g.extra = m.extra;
    return g;
}

/// What a provider reports when a generation finishes.
struct completion {
    std::string done_reason = "stop";  ///< stop | length | ...
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    /// Upstream figures as reported (Ollama: total_duration, eval_duration, ... in ns).
    nlohmann::json provider_metrics = nlohmann::json::object();
    /// The function calls the model answered with, in final_message's shape
    /// (common/tool_calls.hpp); empty = none.
    nlohmann::json tool_calls = nlohmann::json::array();
    /// embed: one vector per input, in order (final_message::embeddings); prompt_tokens counts
    /// the input.
    nlohmann::json embeddings = nlohmann::json::array();
    /// The generated tokens' log probabilities when asked (extra.logprobs), in OpenAI's shape
    /// (final_message::logprobs); empty = none.
    nlohmann::json logprobs = nlohmann::json::array();
    /// n > 1 (extra.n): choices 1..n-1 in index order, their done_reason, tool_calls and
    /// logprobs (their text is what on_choice_token gave; the worker gathers it). The fields
    /// above are choice 0's; completion_tokens counts every choice's.
    std::vector<choice_outcome> choices;
};

/// The number of choices a request asks for: extra.n (OpenAI's `n`, the API checked it), 1
/// when absent.
inline int choices_wanted(const generation_request& req) {
    auto n = req.extra.is_object() ? req.extra.find("n") : req.extra.end();
    return n != req.extra.end() && n->is_number_integer() && n->get<std::int64_t>() > 1 &&
                   n->get<std::int64_t>() <= max_frame_choice + 1
               ? static_cast<int>(n->get<std::int64_t>())
               : 1;
}

struct generation_callbacks {
    /// A text delta of choice 0 (of the only choice, n = 1).
    std::function<void(std::string_view delta)> on_token;
    std::function<void(completion)> on_complete;
    std::function<void(error)> on_error;
    /// n > 1: a text delta of choice `index` (1..n-1). A provider calls it only for a request
    /// with extra.n > 1, and then it is set. (Last, so that {on_token, on_complete, on_error}
    /// still initialises the others.)
    std::function<void(int index, std::string_view delta)> on_choice_token;
};

/// A running generation. Dropping the handle does not cancel it.
class generation {
public:
    virtual ~generation() = default;
    virtual void cancel() = 0;
};

class provider {
public:
    virtual ~provider() = default;

    /// "mock", "ollama", "openai".
    virtual std::string_view name() const = 0;

    /// Checks the upstream is usable (reachable, models listed). Called once before serving.
    virtual net::awaitable<result<void>> init() = 0;

    /// The models this provider can serve now, normalized (name:tag).
    virtual net::awaitable<result<std::vector<std::string>>> models() = 0;

    /// Starts generating `req` (chat, generate or embed, by req.kind). An embed calls no
    /// on_token: its vectors come in the completion.
    virtual std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) = 0;
};

}  // namespace llmp::providers
