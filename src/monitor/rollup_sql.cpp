#include "monitor/rollup_sql.hpp"

#include "monitor/partition_join_sql.hpp"
#include "monitor/pg_values.hpp"

namespace llmp::monitor {
namespace {

const std::string hi = "coalesce(to_timestamp($2::float8 / 1000), now())";
const std::string lo = "(" + hi + " - make_interval(secs => $1::float8))";
// The first whole minute after lo, the minute holding hi, and the whole hours between them.
const std::string m0 = "(date_trunc('minute', " + lo + ") + interval '1 minute')";
const std::string m1 = "date_trunc('minute', " + hi + ")";
const std::string h0 = "date_trunc('hour', " + m0 + " + interval '59 minutes')";
const std::string h1 = "date_trunc('hour', " + m1 + ")";

/// The partial minutes at both edges, each range bounded on both sides: PostgreSQL splits an OR
/// into one index scan per arm, and an arm bounded on one side only read most of the index
/// (3 s at 1 M rows, bench/RESULTS.md).
std::string edge_ranges(const std::string& column) {
    return "((" + column + " > " + lo + " AND " + column + " < " + m0 + ") OR (" + column + " >= " + m1 + " AND " +
           column + " <= " + hi + "))";
}

constexpr std::string_view rollup_columns =
    "t, model, worker_id, status, route, key_id, key_name, n, prompt_tokens, completion_tokens, tps_sum, tps_n, "
    "ttft_hist, duration_hist";
constexpr std::string_view series_columns =
    "t, status, n, prompt_tokens, completion_tokens, tps_sum, tps_n, ttft_hist, duration_hist";

/// A response's counts, sums and histogram entries as one rollup-shaped row's columns.
constexpr std::string_view edge_measures =
    "1::bigint AS n, r.prompt_tokens, r.completion_tokens, CASE WHEN r.status = 'ok' AND r.tokens_per_s > 0 THEN "
    "r.tokens_per_s ELSE 0 END AS tps_sum, CASE WHEN r.status = 'ok' AND r.tokens_per_s > 0 THEN 1 ELSE 0 "
    "END::bigint AS tps_n, CASE WHEN r.status = 'ok' AND r.ttft_ms IS NOT NULL THEN ARRAY[256 + "
    "llmp_latency_bucket(r.ttft_ms)]::bigint[] ELSE '{}' END AS ttft_hist, CASE WHEN r.status = 'ok' AND "
    "r.duration_ms IS NOT NULL THEN ARRAY[256 + llmp_latency_bucket(r.duration_ms)]::bigint[] ELSE '{}' END AS "
    "duration_hist";

/// A window read as its edges (`edges`: the partial minutes at both ends, row by row) plus
/// `table`'s rows of columns `cols`: the whole minutes, and with `hours` the whole hours in
/// place of their minutes.
std::string edges_and_rollups(const std::string& edges, const std::string& cols, const std::string& table,
                              bool hours = true) {
    std::string minutes =
        "SELECT " + cols + " FROM " + table + " WHERE grain = 'minute' AND t >= " + m0 + " AND t < " + m1;
    if (!hours) {
        return "(" + edges + " UNION ALL " + minutes + ")";
    }
    minutes += " AND (t < " + h0 + " OR t >= " + h1 + ")";
    return "(" + edges + " UNION ALL " + minutes + " UNION ALL SELECT " + cols + " FROM " + table +
           " WHERE grain = 'hour' AND t >= " + h0 + " AND t < " + h1 + ")";
}

}  // namespace

std::string rollup_window_sql(bool hours, rollup_table from) {
    const bool series = from == rollup_table::series;
    const std::string cols{series ? series_columns : rollup_columns};
    const std::string table = series ? "response_series" : "response_rollups";
    // The edges, row by row; the request's model and route by key, as the rollups took them,
    // read from the request's day partition (partition_join_sql.hpp).
    const std::string dimensions =
        series ? "r.status, "
               : "coalesce(nullif(r.model, ''), " + request_column_of_response_sql("model") +
                     ", '') AS model, coalesce(r.worker_id, '') AS worker_id, r.status, coalesce(" +
                     request_column_of_response_sql("route") +
                     ", '') AS route, coalesce(r.key_id, '') AS key_id, r.key_name, ";
    std::string edges = "SELECT r.completed_at AS t, " + dimensions + std::string{edge_measures} +
                        " FROM responses r WHERE " + edge_ranges("r.completed_at");
    return edges_and_rollups(edges, cols, table, hours);
}

std::string request_rollup_window_sql() {
    const std::string edges =
        "SELECT q.received_at AS t, coalesce(q.key_id, '') AS key_id, q.key_name, 1::bigint AS n "
        "FROM requests q WHERE " +
        edge_ranges("q.received_at");
    return edges_and_rollups(edges, "t, key_id, key_name, n", "request_rollups");
}

std::string error_rollup_window_sql() {
    const std::string edges = "SELECT coalesce(" + request_column_of_response_sql("route") +
                              ", '') AS route, r.status, r.error_code, 1::bigint AS n, r.completed_at AS last_at "
                              "FROM responses r WHERE r.status <> 'ok' AND " +
                              edge_ranges("r.completed_at");
    return edges_and_rollups(edges, "route, status, error_code, n, last_at", "error_rollups");
}

std::string rollup_aggregates_sql(std::string_view group) {
    std::string g = group.empty() ? std::string{} : std::string{group} + " AS grp, ";
    return "SELECT " + g +
           "coalesce(sum(s.n), 0), coalesce(sum(s.n) FILTER (WHERE s.status = 'error'), 0), "
           "coalesce(sum(s.n) FILTER (WHERE s.status = 'cancelled'), 0), coalesce(sum(s.completion_tokens), 0), "
           "coalesce(sum(s.prompt_tokens), 0), NULL, NULL, sum(s.tps_sum) / nullif(sum(s.tps_n), 0)";
}

std::string rollup_histograms_sql(std::string_view group, latency_metrics metrics) {
    const std::string g = group.empty() ? std::string{"''"} : std::string{group};
    const std::string duration = "SELECT " + g + " AS g, 1 AS m, unnest(s.duration_hist) AS e FROM s";
    const std::string entries =
        metrics == latency_metrics::duration
            ? duration
            : "SELECT " + g + " AS g, 0 AS m, unnest(s.ttft_hist) AS e FROM s UNION ALL " + duration;
    // Entries are count * 256 + bucket (pg migration 10).
    return "SELECT g, m, ((e % 256) + 256) % 256 AS k, sum((e - ((e % 256) + 256) % 256) / 256) FROM (" + entries +
           ") h GROUP BY 1, 2, 3";
}

result<std::map<std::string, latency_pair>> query_rollup_histograms(pg::connection& c, std::string_view group,
                                                                    bool hours,
                                                                    const std::vector<std::optional<std::string>>& p,
                                                                    rollup_table from, latency_metrics metrics) {
    auto r = c.query("WITH s AS " + rollup_window_sql(hours, from) + " " + rollup_histograms_sql(group, metrics), p);
    if (!r) {
        return r.error();
    }
    std::map<std::string, latency_pair> out;
    for (const auto& row : r.value().rows) {
        auto& pair = out[row[0].value_or("")];
        (as_int(row[1]) == 0 ? pair.ttft : pair.duration).add(static_cast<int>(as_int(row[2])), as_int(row[3]));
    }
    return out;
}

}  // namespace llmp::monitor
