#pragma once
// Worker configuration. Filled by programs/worker.cpp from flags and LLMPROXY_* variables.

#include "broker/config.hpp"
#include "providers/config.hpp"

#include <chrono>
#include <string>

namespace llmp::worker {

struct worker_config {
    broker::broker_config broker;
    providers::provider_config provider;
    /// Generations run at once.
    int concurrency = 64;
    /// A request is acked only once its answer is confirmed (persistent: after the broker's disk
    /// write), so a worker whose generations have ended but whose answers await their confirms
    /// would be sent nothing new meanwhile (issue 13: ~10 ms of a paced request's first token).
    /// So the AMQP prefetch is --concurrency plus the answers awaiting their confirm, at most
    /// this many (-1 = --concurrency; 0 = off); the worker still runs --concurrency generations
    /// at once. Its two basic.qos per request pay at 1,000 paced streams too (bench/RESULTS.md,
    /// "a bench that ran the change on the baseline's backlog").
    int prefetch_headroom = -1;
    /// I/O threads for provider connections.
    int io_threads = 1;
    /// Heartbeat period on the control exchange; also how often the provider's model list is
    /// re-read (Ollama: GET /api/tags), so a model pulled or removed is followed within one.
    std::chrono::milliseconds heartbeat_interval{2000};
    /// How long SIGTERM waits for generations in flight before handing them back.
    std::chrono::milliseconds drain_timeout{30000};
    /// Deliveries of one request before it is dead-lettered as a poison message (one that kills
    /// every worker taking it). Counted in the header x-llmp-deliveries (worker_service.cpp).
    int max_deliveries = 3;
    /// Chunks go out multiplexed: one message per API server per flush carrying a frame per
    /// stream (`<server-id>.chunks`, broker/chunk_mux.hpp). Off: one message per stream per
    /// flush (`<server-id>.chunk`, raw text), as before: for API servers of a version that does
    /// not read `.chunks` yet (upgrade the API servers first, then turn it on).
    bool multiplex_chunks = true;
    /// How long a busy worker holds chunks to put more into one message (an idle one sends at
    /// once, and a stream's first chunk never waits): the most a token waits, and about one
    /// message per API server per interval. 5 ms rather than 2: at 100 tokens/s per stream
    /// (one token per 10 ms) a token still waits at most half a gap, while the broker carries
    /// about twice the tokens per message and the CPU per token end to end falls 7-29 % at 128
    /// streams and under an open loop (within noise at 1,000+), with the time the answer's text
    /// arrives unchanged within noise (bench/RESULTS.md, "a 5 ms chunk flush").
    std::chrono::microseconds chunk_flush_interval{5000};
    /// Unique id of this worker; empty = generated.
    std::string worker_id;
};

}  // namespace llmp::worker
