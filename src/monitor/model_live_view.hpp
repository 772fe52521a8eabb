#pragma once
// model_live_view: what each model's side of the fleet looks like right now (issue 15, item 4):
// the live workers that announce it with their free slots (heartbeats) and its work queue
// "<p>.work.<model key>" (queue_sampler's latest management API answer: messages waiting for a
// worker, unacked = being generated, consumers). One entry a model that a live worker announces
// or that has a work queue: the set /api/models adds to its stored rows and /metrics labels by
// model (bounded by the queues and workers, not by what clients ask for).
//
// A queue is matched to its model by topology::model_queue() over every name known (the
// workers' and the stored rows'); a queue no known name maps to (its model's workers left and
// nothing was stored for it) is shown under its routing key, which is the normalized model name
// unless the name was too long for AMQP (then a shortened name with a hash).
//
// Pure functions; any thread.

#include "broker/topology.hpp"
#include "monitor/live_workers.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llmp::monitor {

struct model_queue_state {
    std::int64_t messages = 0;  ///< ready + unacked
    std::int64_t ready = 0;     ///< waiting for a worker: the queue depth
    std::int64_t unacked = 0;   ///< delivered to a worker, not finished
    std::int64_t consumers = 0;
};

struct model_live {
    std::string model;                       ///< normalized
    std::int64_t workers = 0;                ///< live workers announcing it
    std::int64_t free_slots = 0;             ///< sum over them of concurrency - in_flight (at least 0 each)
    std::optional<model_queue_state> queue;  ///< nullopt: no queue seen (or no queue statistics)
};

/// Sorted by model. `latest`: queue_sampler::latest(); `known_names`: more names a queue may
/// belong to (normalized; e.g. the models of the stored rows).
std::vector<model_live> model_live_view(const nlohmann::json& latest, const std::vector<live_worker>& workers,
                                        const broker::topology& t, const std::vector<std::string>& known_names = {});

/// Adds the live view to /api/models' body: each row gets `workers`, `free_slots` and `queue`
/// ({messages, ready, unacked, consumers}, or null without statistics for it); a model of the
/// view without stored rows in the window is appended with zero aggregates, unless the window
/// is a custom range that ended in the past (`to_ms` in the body: what was stored then is all
/// it holds). Sets `queues_available`.
void merge_model_live(nlohmann::json& body, const std::vector<model_live>& view, bool queues_available);

/// The models named by /api/models' rows.
std::vector<std::string> model_names(const nlohmann::json& body);

}  // namespace llmp::monitor
