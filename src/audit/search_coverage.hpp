#pragma once
// search_coverage: the closed days of `requests` searched through their own partition's trigram
// index instead of a copy of their text in request_search (pg migration 36, issue 19). For the
// next range partition after the covered range whose day has ended (`margin` past its end), it
// builds that index (CREATE INDEX CONCURRENTLY on the partition, outside a transaction: the
// writer goes on inserting into the open days meanwhile), extends search_coverage over the
// partition, and then deletes the covered days' rows from request_search and search_backlog in
// batches (each pass deletes what is left there, so a pass cut short is finished by the next).
// The covered range stays adjacent partitions only: a day without a partition after it (the
// service was down past the days created ahead) is created first if the DEFAULT partition holds
// none of its rows, otherwise the coverage waits there (that day's rows are in the DEFAULT
// partition; retention trims them, and the day can be created then). The monitor reads the range
// in its search's snapshot (monitor/request_queries.cpp) and the indexer drops the queued keys it
// covers (audit/search_index.cpp).
//
// Threading: runs on the caller's thread with the caller's connection (retention_job's), never
// inside a transaction of the caller's.

#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>

namespace llmp::pg {
class connection;
}

namespace llmp::audit {

struct search_coverage_pass {
    int partitions = 0;            ///< partitions newly covered
    std::int64_t search_rows = 0;  ///< request_search and search_backlog rows of covered days deleted
};

/// Covers every closed partition it can, in order, then deletes the covered days' search rows
/// (batches of at most batch_rows). keep_going() is asked before each partition and batch.
result<search_coverage_pass> cover_closed_partitions(pg::connection& c, std::chrono::seconds margin, int batch_rows,
                                                     const std::function<bool()>& keep_going);

/// The default margin past a day's end before its partition is covered: rows of that day still
/// arriving (the audit's lag) go through the queue either way, but most are in by then.
inline constexpr std::chrono::seconds search_coverage_margin{3600};

}  // namespace llmp::audit
