#pragma once
// stats_queries: the aggregate reads behind /api/overview, /api/timeseries, /api/models and the
// database half of /api/workers. Each runs on a db_pool thread with that thread's connection and
// returns the JSON the endpoint serves (live parts — in-flight, queue depth — are added by the
// handlers). Percentiles are of the successful requests: exact (percentile_cont over the rows)
// up to exact_window_max_s, from the rollups' histograms beyond; rates are per second of the
// window or bucket.

#include "common/result.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>

namespace llmp::monitor {

/// Windows up to this long are read from the rows, exactly; longer ones from the audit rollups
/// (rollup_sql.hpp): the same counts and sums, percentiles within latency_histogram's bound.
inline constexpr std::int64_t exact_window_max_s = 3600;
bool reads_rollups(std::int64_t window_s);

/// The answers made of counts and sums only (the error list, usage per key) read the rollups
/// beyond this: they are exact there (the partial minutes at the edges read row by row), and a
/// 1 h window of rows looked up each response's request for its route (62 ms of a refresh at
/// 20 M requests, bench/RESULTS.md). Up to it they read the rows, as the percentiles do.
inline constexpr std::int64_t exact_counts_window_max_s = 300;
bool counts_read_rollups(std::int64_t window_s);

// `end_ms`: the window's end (unix ms, a custom range's `to`); nullopt = now.
result<nlohmann::json> query_overview(pg::connection& c, std::int64_t window_s,
                                      std::optional<std::int64_t> end_ms = std::nullopt);
/// One entry per bucket from end - window to end; a bucket with no traffic is all zeros.
result<nlohmann::json> query_timeseries(pg::connection& c, std::int64_t window_s, std::int64_t bucket_s,
                                        std::optional<std::int64_t> end_ms = std::nullopt);
/// One row a model (normalized) with the aggregates and `wait_ms` {p50, p95}: the queue wait of
/// its successful requests, from the API's receipt to the worker's start (null over the
/// rollups, beyond exact_window_max_s, and for a model without successful requests).
result<nlohmann::json> query_models(pg::connection& c, std::int64_t window_s,
                                    std::optional<std::int64_t> end_ms = std::nullopt);
/// Workers table rows (seen within a day) joined with their window totals from responses.
result<nlohmann::json> query_worker_totals(pg::connection& c, std::int64_t window_s,
                                           std::optional<std::int64_t> end_ms = std::nullopt);

}  // namespace llmp::monitor
