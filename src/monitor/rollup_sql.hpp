#pragma once
// rollup_sql: the SQL that reads a dashboard window from the audit rollups (response_rollups,
// pg migration 10) instead of the responses themselves: whole hours from the hourly rows, whole
// minutes from the minute rows, and the partial minutes at either edge from `responses` by
// index, so counts and token sums equal the exact queries' and only percentiles are approximate
// (latency_histogram.hpp). Pure functions building text; the statements take $1 = the window in
// seconds and $2 = its end in unix ms (NULL = now), like stats_queries.
//
// Every bound is written out as an expression of the parameters and now(), never read from a
// CTE, so that PostgreSQL scans both tables by index.
//
// The timeseries reads response_series (pg migration 27) instead: the same rows without their
// dimensions (grain × time × status), ~60 times fewer minute rows to unnest the histograms of.
// The error list reads error_rollups (pg migration 33): the non-ok responses per grain × time ×
// route × status × error code.

#include "monitor/latency_histogram.hpp"
#include "pg/connection.hpp"

#include <map>
#include <string>
#include <string_view>

namespace llmp::monitor {

/// A subquery of rollup-shaped rows over the window: t (the row's minute, hour or completion
/// time), model (the request's when the response names none), worker_id, status, route, key_id,
/// key_name, n, prompt_tokens, completion_tokens, tps_sum, tps_n, ttft_hist, duration_hist.
/// `hours`: whether hourly rows may stand for whole hours (not when the caller buckets finer).
/// From `series`: t, status and the counts, sums and histograms only.
enum class rollup_table { dimensions, series };
std::string rollup_window_sql(bool hours, rollup_table from = rollup_table::dimensions);

/// The same over request_rollups and requests (by received_at): t, key_id, key_name, n.
std::string request_rollup_window_sql();

/// The same over error_rollups (pg migration 33) and the non-ok responses: route ('' when the
/// request was not found; from its day partition, partition_join_sql.hpp), status, error_code,
/// n, last_at (the latest completed_at).
std::string error_rollup_window_sql();

/// SELECT of the shared aggregate columns (as stats_queries' exact ones, percentiles as NULL)
/// over `s`, grouped by `group` when not empty (the group is column 1, named grp).
std::string rollup_aggregates_sql(std::string_view group);

/// Which latency histograms a read needs: unnesting them is most of a wide window's time.
enum class latency_metrics { ttft_and_duration, duration };

/// The TTFT (metric 0) and duration (metric 1) histograms of the successful responses per
/// group over `s`: rows of group, metric, bucket, count.
std::string rollup_histograms_sql(std::string_view group, latency_metrics metrics = latency_metrics::ttft_and_duration);

struct latency_pair {
    latency_histogram ttft;
    latency_histogram duration;
};

/// Runs rollup_histograms_sql(group, metrics) over rollup_window_sql(hours, from) and returns the
/// histograms by group value (`ttft` left empty when only the duration is asked for).
result<std::map<std::string, latency_pair>> query_rollup_histograms(
    pg::connection& c, std::string_view group, bool hours, const std::vector<std::optional<std::string>>& p,
    rollup_table from = rollup_table::dimensions, latency_metrics metrics = latency_metrics::ttft_and_duration);

}  // namespace llmp::monitor
