#pragma once
// search_index: moves the requests the ingest queued in search_backlog into request_search, whose
// trigram index serves the monitor's text search (pg migration 28, issue 19). Newest first, in
// batches, each one short transaction (the queued keys are deleted and their text inserted
// together, so a reader sees every request in exactly one of the two tables); queued rows locked
// by another indexer are skipped. A queued request of a day whose partition carries its own
// search index (pg migration 36, audit/search_coverage.hpp: a late row of a closed day) is
// dequeued without a copy. Its GIN inserts happen here, never in the writer's
// transactions: that is what keeps the ingest's cost to one small row per request.
//
// Threading: runs on the caller's thread with the caller's connection (retention_job's).

#include "common/result.hpp"

#include <cstdint>
#include <functional>

namespace llmp::pg {
class connection;
}

namespace llmp::audit {

struct search_index_pass {
    std::int64_t dequeued = 0;  ///< queued keys taken (their requests may be gone by retention)
    std::int64_t indexed = 0;   ///< requests whose text went into request_search
    std::int64_t covered = 0;   ///< requests of a covered day, only dequeued (audit/search_coverage.hpp)
};

/// The indexer's pace, as a keep_going for index_search_backlog: every batch while the ingest
/// keeps up, one batch per call of the result's owner (a tick) while `ingest_behind()` says the
/// writer is behind the queues. Indexing a request (its trigram GIN entries) costs the database
/// more than storing it, and on a busy server it takes the CPU the ingest needs
/// (bench/RESULTS.md); the requests still queued stay searchable, by a scan of the queue. Both
/// functions are asked before each batch; an empty `ingest_behind` = never behind.
std::function<bool()> search_index_pace(std::function<bool()> keep_going, std::function<bool()> ingest_behind);

/// Batches of at most batch_rows until the backlog is empty (a batch comes back short) or
/// keep_going() says false (asked before each batch).
result<search_index_pass> index_search_backlog(pg::connection& c, int batch_rows,
                                               const std::function<bool()>& keep_going);

}  // namespace llmp::audit
