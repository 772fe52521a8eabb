#pragma once
// The pool provider: several upstreams behind one worker (--upstream ollama=URL --upstream
// openai=URL ...), each one an ordinary provider (ollama or openai) of its own.
//
// Models: models() asks every upstream (all at once) and returns the union; an
// upstream that answers is "up" with the models it listed, one that fails is "down" (its
// models leave the union) until a later models() call finds it answering again. The worker
// calls models() at start and then every heartbeat period (worker_config::heartbeat_interval),
// so heartbeats always announce the union of what the live upstreams serve.
//
// Routing: each generation goes to the upstream with the fewest generations in flight among
// the up upstreams whose last list has the requested model (normalized name:tag); ties go
// round-robin. An upstream that refuses a connection mid-life (upstream_unavailable) is taken
// out of routing at once and given another chance after provider_config::upstream_retry_after
// (it is then tried like any other; success puts it back, failure takes it out again).
//
// Failover: a generation that fails before its first token with upstream_unavailable or
// upstream_rate_limited is retried on the next best upstream serving the model that it has not
// tried yet; once a token has been sent, errors are passed on as they are.
//
// Errors of its own: model_not_found (no up upstream lists the model), upstream_unavailable
// (retryable; no upstream is up).
//
// Threading: as provider.hpp. The routing state is guarded by a mutex; each generation's
// callbacks run on the strand of the upstream generation currently serving it, and a failover
// starts the next one only after the previous one has ended, so callbacks never overlap.

#include "providers/provider.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace llmp::providers {

struct pool_member {
    std::string label;  ///< "ollama http://a:11434", for logs and errors
    std::unique_ptr<provider> upstream;
};

std::unique_ptr<provider> make_pool_provider(std::vector<pool_member> members, std::chrono::milliseconds retry_after,
                                             net::any_io_executor ex);

}  // namespace llmp::providers
