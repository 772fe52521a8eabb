#pragma once
// choice_fanout: several choices (OpenAI's `n` > 1) from an upstream that generates one answer
// per request (Ollama, the mock): n generations of the same request, started at once, merged
// into one generation of n choices. Generation i's tokens become choice i's (on_token for 0,
// on_choice_token for the others); the completion is choice 0's, with the others' done_reason,
// tool_calls and logprobs in completion::choices, completion_tokens summed and prompt_tokens
// choice 0's (the prompt is counted once, as OpenAI's usage does). The first error ends the
// whole generation (the others are cancelled): a client asked for n choices, not fewer. A seed
// (options.seed) becomes seed + i for generation i, else the n samples would be one.
//
// Concurrent rather than one after the other: the client waits for the slowest choice, not for
// their sum, and the upstream schedules them as it does any parallel requests (Ollama's
// OLLAMA_NUM_PARALLEL). They take ONE of the worker's slots (one delivery, as an
// OpenAI-compatible upstream's one request for n choices does).
//
// Threading: the n generations call back on their own strands; each callback is posted to this
// generation's strand, where the merged callbacks run one at a time, in each choice's order.
// cancel() from any thread.

#include "common/asio_fwd.hpp"
#include "providers/provider.hpp"

#include <functional>
#include <memory>

namespace llmp::providers {

/// Starts one generation of a request (the provider's own start, for n = 1).
using start_one_fn = std::function<std::shared_ptr<generation>(const generation_request&, generation_callbacks)>;

/// Starts choices_wanted(req) generations of `req` (extra.n removed from each) through
/// `start_one` and merges them as above. Call only for n > 1.
std::shared_ptr<generation> start_choice_fanout(const net::any_io_executor& ex, const generation_request& req,
                                                generation_callbacks cb, const start_one_fn& start_one);

}  // namespace llmp::providers
