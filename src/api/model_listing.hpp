#pragma once
// model_listing: the per-model view the model lists are built from (/api/models, /v1/models,
// /ollama/api/tags): each served model once and each alias whose model is served, with the live
// workers serving it and their free slots. A pure function of a worker_registry snapshot and the
// aliases; any thread (the registry locks itself).

#include "api/model_aliases.hpp"
#include "api/worker_registry.hpp"

#include <string>
#include <vector>

namespace llmp::api {

struct listed_model {
    std::string name;                  ///< what clients send: a served model's normalized name, or an alias
    std::string target;                ///< the served model (== name when this is no alias)
    std::vector<std::string> workers;  ///< ids of the live workers serving `target`, sorted
    /// Free slots of those workers (concurrency - in flight, summed). A worker serving several
    /// models shares its slots among them: its free slots count under each of its models.
    int free_slots = 0;
    bool alias() const { return name != target; }
};

/// Sorted by name; an alias named like a served model replaces it (the alias wins at admission too).
std::vector<listed_model> list_models(const worker_registry& workers, const model_aliases& aliases,
                                      worker_registry::clock::time_point now = worker_registry::clock::now());

}  // namespace llmp::api
