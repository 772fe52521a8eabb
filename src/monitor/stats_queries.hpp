#pragma once
// stats_queries: the aggregate reads behind /api/overview, /api/timeseries, /api/models and the
// database half of /api/workers. Each runs on a db_pool thread with that thread's connection and
// returns the JSON the endpoint serves (live parts — in-flight, queue depth — are added by the
// handlers). Percentiles are exact (percentile_cont over the window's rows, successful requests
// only); rates are per second of the window or bucket.

#include "common/result.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace llmp::monitor {

result<nlohmann::json> query_overview(pg::connection& c, std::int64_t window_s);
/// One entry per bucket from now - window to now; a bucket with no traffic is all zeros.
result<nlohmann::json> query_timeseries(pg::connection& c, std::int64_t window_s, std::int64_t bucket_s);
result<nlohmann::json> query_models(pg::connection& c, std::int64_t window_s);
/// Workers table rows (seen within a day) joined with their window totals from responses.
result<nlohmann::json> query_worker_totals(pg::connection& c, std::int64_t window_s);

}  // namespace llmp::monitor
