#include "monitor/stats_queries.hpp"

#include "monitor/model_name_sql.hpp"
#include "monitor/partition_join_sql.hpp"
#include "monitor/pg_values.hpp"
#include "monitor/rollup_sql.hpp"

#include <map>

namespace llmp::monitor {
namespace {

using nlohmann::json;

// The aggregates shared by overview, timeseries and models, over responses `r`.
constexpr std::string_view aggregates = R"sql(
    count(*),
    count(*) FILTER (WHERE r.status = 'error'),
    count(*) FILTER (WHERE r.status = 'cancelled'),
    coalesce(sum(r.completion_tokens), 0),
    coalesce(sum(r.prompt_tokens), 0),
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.ttft_ms) FILTER (WHERE r.status = 'ok'),
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'ok'),
    avg(r.tokens_per_s) FILTER (WHERE r.status = 'ok' AND r.tokens_per_s > 0)
)sql";

/// The JSON of the aggregate columns starting at row[i]; rates per `seconds`.
json aggregate_json(const pg::row& row, std::size_t i, double seconds) {
    auto n = as_int(row[i]);
    auto errors = as_int(row[i + 1]);
    auto tokens = as_int(row[i + 3]);
    return {{"requests", n},
            {"errors", errors},
            {"cancelled", as_int(row[i + 2])},
            {"completion_tokens", tokens},
            {"prompt_tokens", as_int(row[i + 4])},
            {"requests_per_s", static_cast<double>(n) / seconds},
            {"tokens_per_s", static_cast<double>(tokens) / seconds},
            {"error_rate", n > 0 ? static_cast<double>(errors) / static_cast<double>(n) : 0.0},
            {"ttft_ms", percentiles(row[i + 5])},
            {"latency_ms", percentiles(row[i + 6])},
            {"mean_generation_tokens_per_s", as_double(row[i + 7])}};
}

// The model a response was served by: its own, or its request's where it names none (an API-side
// verdict), looked up in the request's day partition (partition_join_sql.hpp). Computed in a
// subquery fenced with OFFSET 0 and normalized above it: normalized_model_sql repeats its
// argument, and three copies of the lookup (an Append over every partition each) made the plan
// costly enough for PostgreSQL to JIT-compile it — ~2 s at 1 M rows for a query of 30 ms
// (bench/RESULTS.md).
const std::string model_of_response =
    "coalesce(nullif(r.model, ''), " + request_column_of_response_sql("model") + ", '')";

std::string window_param(std::int64_t s) {
    return std::to_string(s);
}

/// The window's end as a query parameter: unix ms, or NULL for now().
std::optional<std::string> end_param(std::optional<std::int64_t> end_ms) {
    return end_ms ? std::optional<std::string>{std::to_string(*end_ms)} : std::nullopt;
}

/// The SQL of the window's end from parameter $n.
std::string end_sql(int n) {
    return "coalesce(to_timestamp($" + std::to_string(n) + "::float8 / 1000), now())";
}

/// The start of a window from its length (parameter $window_n, seconds) and its end (parameter
/// $end_n, unix ms, given). An immutable expression of the parameters: PostgreSQL folds it into
/// a constant when it plans, and plans only the day partitions the window touches. From
/// `end - make_interval(...)` (a stable expression, as now() is) it planned every partition:
/// 15 ms of planning for a 5 m overview at 20 M requests, 2.3 ms with constants
/// (bench/RESULTS.md).
std::string start_sql(int window_n, int end_n) {
    return "to_timestamp(($" + std::to_string(end_n) + "::float8 - $" + std::to_string(window_n) +
           "::float8 * 1000) / 1000)";
}

/// The window's end in unix ms: the given one, or the database's now(). The exact reads name
/// their end as a constant (start_sql), read first by a statement of its own.
result<std::int64_t> resolve_end_ms(pg::connection& c, std::optional<std::int64_t> end_ms) {
    if (end_ms) {
        return *end_ms;
    }
    auto r = c.query("SELECT (extract(epoch FROM now()) * 1000)::bigint");
    if (!r) {
        return r.error();
    }
    return as_int(r.value().rows.at(0)[0]);
}

using params = std::vector<std::optional<std::string>>;

/// The exact aggregates' JSON with the percentiles from the rollups' histograms, when any.
json rollup_json(const pg::row& row, std::size_t i, double seconds, const latency_pair* h) {
    json j = aggregate_json(row, i, seconds);
    latency_pair none;
    j["ttft_ms"] = (h ? h->ttft : none.ttft).percentiles_json();
    j["latency_ms"] = (h ? h->duration : none.duration).percentiles_json();
    return j;
}

const latency_pair* find_pair(const std::map<std::string, latency_pair>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : &it->second;
}

// The whole window's totals need no dimension: they read response_series, which holds a few
// rows a minute or hour where response_rollups holds one per model x worker x status x route x
// key (up to ~1,000 an hour: reading them twice, sums then histograms, was 186 ms of a 7 d
// overview at 20 M requests, bench/RESULTS.md). The same rows summed: the same counts, sums and
// histograms.
result<json> overview_from_rollups(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    const params p{window_param(window_s), end_param(end_ms)};
    const std::string end = end_sql(2);
    auto r = c.query("WITH s AS " + rollup_window_sql(true, rollup_table::series) + " " + rollup_aggregates_sql("") +
                         ", (SELECT sum(n) FROM " + request_rollup_window_sql() + " rq), (extract(epoch FROM " + end +
                         ") * 1000)::bigint FROM s",
                     p);
    if (!r) {
        return r.error();
    }
    auto h = query_rollup_histograms(c, "", true, p, rollup_table::series);
    if (!h) {
        return h.error();
    }
    const auto& row = r.value().rows.at(0);
    json out = rollup_json(row, 0, static_cast<double>(window_s), find_pair(h.value(), ""));
    out["received"] = as_int(row[8]);
    out["now_ms"] = as_int(row[9]);
    return out;
}

result<json> timeseries_from_rollups(pg::connection& c, std::int64_t window_s, std::int64_t bucket_s,
                                     std::optional<std::int64_t> end_ms) {
    // $1 window, $2 end (as rollup_sql.hpp wants them), $3 bucket.
    const params p{window_param(window_s), end_param(end_ms), std::to_string(bucket_s)};
    const std::string end = end_sql(2);
    const std::string b = "make_interval(secs => $3::float8)";
    const std::string t0 = "date_bin(" + b + ", " + end + " - make_interval(secs => $1::float8), timestamptz 'epoch')";
    const std::string t1 = "date_bin(" + b + ", " + end + ", timestamptz 'epoch')";
    const std::string bucket_ms = "(extract(epoch FROM date_bin(" + b + ", s.t, timestamptz 'epoch')) * 1000)::bigint";
    const bool hours = bucket_s % 3600 == 0;
    auto r =
        c.query("WITH s AS " + rollup_window_sql(hours, rollup_table::series) + ", agg AS (" +
                    rollup_aggregates_sql(bucket_ms) +
                    " FROM s GROUP BY 1) SELECT g.ms, a.* FROM (SELECT (extract(epoch FROM t) * 1000)::bigint AS ms "
                    "FROM generate_series(" +
                    t0 + ", " + t1 + ", " + b + ") AS t) g LEFT JOIN agg a ON a.grp = g.ms ORDER BY g.ms",
                p);
    if (!r) {
        return r.error();
    }
    auto h = query_rollup_histograms(c, bucket_ms, hours, p, rollup_table::series);
    if (!h) {
        return h.error();
    }
    json points = json::array();
    for (const auto& row : r.value().rows) {
        json pt = rollup_json(row, 2, static_cast<double>(bucket_s), find_pair(h.value(), row[0].value_or("")));
        pt["t"] = as_int(row[0]);
        points.push_back(std::move(pt));
    }
    return json{{"window_s", window_s}, {"bucket_s", bucket_s}, {"points", std::move(points)}};
}

/// /api/models' body; `to_ms` names a custom range's end (absent: the window ends now).
json models_body(std::int64_t window_s, std::optional<std::int64_t> end_ms, json models) {
    json body{{"window_s", window_s}, {"models", std::move(models)}};
    if (end_ms) {
        body["to_ms"] = *end_ms;
    }
    return body;
}

result<json> models_from_rollups(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    const params p{window_param(window_s), end_param(end_ms)};
    const std::string model = normalized_model_sql("s.model");
    auto r = c.query("WITH s AS " + rollup_window_sql(true) + " " + rollup_aggregates_sql(model) +
                         " FROM s GROUP BY 1 HAVING sum(s.n) > 0 ORDER BY 2 DESC, 1",
                     p);
    if (!r) {
        return r.error();
    }
    auto h = query_rollup_histograms(c, model, true, p);
    if (!h) {
        return h.error();
    }
    json models = json::array();
    for (const auto& row : r.value().rows) {
        json m = rollup_json(row, 1, static_cast<double>(window_s), find_pair(h.value(), row[0].value_or("")));
        m["model"] = row[0].value_or("");
        m["wait_ms"] = nullptr;  // the rollups keep no queue waits
        models.push_back(std::move(m));
    }
    return models_body(window_s, end_ms, std::move(models));
}

}  // namespace

bool reads_rollups(std::int64_t window_s) {
    return window_s > exact_window_max_s;
}

bool counts_read_rollups(std::int64_t window_s) {
    return window_s > exact_counts_window_max_s;
}

result<json> query_overview(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    if (reads_rollups(window_s)) {
        return overview_from_rollups(c, window_s, end_ms);
    }
    auto end_at = resolve_end_ms(c, end_ms);
    if (!end_at) {
        return end_at.error();
    }
    const std::string end = end_sql(2);
    const std::string start = start_sql(1, 2);
    std::string sql = "SELECT " + std::string{aggregates} + ", (SELECT count(*) FROM requests WHERE received_at > " +
                      start + " AND received_at <= " + end + "), (extract(epoch FROM " + end +
                      ") * 1000)::bigint"
                      " FROM responses r WHERE r.completed_at > " +
                      start + " AND r.completed_at <= " + end;
    auto r = c.query(sql, {window_param(window_s), end_param(end_at.value())});
    if (!r) {
        return r.error();
    }
    const auto& row = r.value().rows.at(0);
    json out = aggregate_json(row, 0, static_cast<double>(window_s));
    out["received"] = as_int(row[8]);
    out["now_ms"] = as_int(row[9]);
    return out;
}

result<json> query_timeseries(pg::connection& c, std::int64_t window_s, std::int64_t bucket_s,
                              std::optional<std::int64_t> end_ms) {
    if (reads_rollups(window_s) && bucket_s % 60 == 0) {
        return timeseries_from_rollups(c, window_s, bucket_s, end_ms);
    }
    auto end_at = resolve_end_ms(c, end_ms);
    if (!end_at) {
        return end_at.error();
    }
    const std::string end = end_sql(3);
    // The bounds are written out in the WHERE clause, not read from a CTE: only an expression of
    // parameters lets the planner scan (completed_at) by index (issue 19: from a CTE it read
    // every response at every window).
    const std::string b = "make_interval(secs => $2::float8)";
    const std::string t0 = "date_bin(" + b + ", " + start_sql(1, 3) + ", timestamptz 'epoch')";
    const std::string t1 = "date_bin(" + b + ", " + end + ", timestamptz 'epoch')";
    std::string sql = "WITH agg AS (SELECT date_bin(" + b + ", r.completed_at, timestamptz 'epoch') AS t, " +
                      std::string{aggregates} + " FROM responses r WHERE r.completed_at >= " + t0 +
                      " AND r.completed_at < " + t1 + " + " + b +
                      " GROUP BY 1)"
                      " SELECT (extract(epoch FROM s.t) * 1000)::bigint, a.*"
                      " FROM generate_series(" +
                      t0 + ", " + t1 + ", " + b + ") AS s(t) LEFT JOIN agg a ON a.t = s.t ORDER BY s.t";
    auto r = c.query(sql, {window_param(window_s), std::to_string(bucket_s), end_param(end_at.value())});
    if (!r) {
        return r.error();
    }
    json points = json::array();
    for (const auto& row : r.value().rows) {
        json p = aggregate_json(row, 2, static_cast<double>(bucket_s));
        p["t"] = as_int(row[0]);
        points.push_back(std::move(p));
    }
    return json{{"window_s", window_s}, {"bucket_s", bucket_s}, {"points", std::move(points)}};
}

result<json> query_models(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    if (reads_rollups(window_s)) {
        return models_from_rollups(c, window_s, end_ms);
    }
    auto end_at = resolve_end_ms(c, end_ms);
    if (!end_at) {
        return end_at.error();
    }
    const std::string end = end_sql(2);
    // One row a model, however the client or the worker spelled its name (model_name_sql.hpp).
    // The request's model only where the response has none (an API-side verdict): a lookup by
    // key for those rows, in the request's day partition, not a join of the window with every
    // request (issue 19).
    // The queue wait of the successful requests, in the same pass (a second scan of the window
    // cost a 1 h window half its time at 20 M requests, bench/RESULTS.md): from the API server's
    // receipt (the response's own copy of the request's received_at, pg migration 29; the
    // request row read only for a response stored without it) to the worker's start of the
    // generation (completed_at minus duration, both the worker's clock). Exact windows only:
    // the rollups keep no waits.
    std::string sql = "SELECT " + normalized_model_sql("r.m") + " AS m, " + std::string{aggregates} +
                      ", percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM "
                      "r.completed_at - r.received_at) * 1000 - r.duration_ms)) FILTER (WHERE r.status = 'ok' AND "
                      "r.duration_ms IS NOT NULL)"
                      " FROM (SELECT r.*, " +
                      model_of_response + " AS m, " + request_received_at_of_response_sql() +
                      " AS received_at FROM responses r"
                      " WHERE r.completed_at > " +
                      start_sql(1, 2) + " AND r.completed_at <= " + end + " OFFSET 0) r GROUP BY 1 ORDER BY 2 DESC, 1";
    auto r = c.query(sql, {window_param(window_s), end_param(end_at.value())});
    if (!r) {
        return r.error();
    }
    json models = json::array();
    for (const auto& row : r.value().rows) {
        json m = aggregate_json(row, 1, static_cast<double>(window_s));
        m["model"] = row[0].value_or("");
        if (row[9]) {
            auto w = as_double_array(row[9], 2);
            m["wait_ms"] = json{{"p50", w[0]}, {"p95", w[1]}};
        } else {
            m["wait_ms"] = nullptr;
        }
        models.push_back(std::move(m));
    }
    return models_body(window_s, end_ms, std::move(models));
}

result<json> query_worker_totals(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    const std::string end = end_sql(2);
    const bool rollups = reads_rollups(window_s);
    if (!rollups) {
        auto end_at = resolve_end_ms(c, end_ms);
        if (!end_at) {
            return end_at.error();
        }
        end_ms = end_at.value();
    }
    std::string totals;
    if (rollups) {
        totals = "WITH src AS " + rollup_window_sql(true) + R"sql(,
s AS (SELECT worker_id, sum(n) AS n, sum(n) FILTER (WHERE status = 'error') AS e, sum(completion_tokens) AS tok,
             sum(tps_sum) / nullif(sum(tps_n), 0) AS tps, NULL::float8 AS p50
      FROM src WHERE worker_id <> '' GROUP BY 1 HAVING sum(n) > 0))sql";
    } else {
        totals = R"sql(
WITH s AS (SELECT r.worker_id, count(*) AS n, count(*) FILTER (WHERE r.status = 'error') AS e,
                  coalesce(sum(r.completion_tokens), 0) AS tok,
                  avg(r.tokens_per_s) FILTER (WHERE r.status = 'ok' AND r.tokens_per_s > 0) AS tps,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'ok') AS p50
           FROM responses r
           WHERE r.completed_at > )sql" +
                 start_sql(1, 2) + " AND r.completed_at <= " + end + R"sql(
             AND r.worker_id IS NOT NULL
           GROUP BY 1))sql";
    }
    std::string sql = totals + R"sql(
SELECT worker_id, w.host, w.provider, w.models, w.concurrency, w.requests_total, w.tokens_total,
       (extract(epoch FROM w.first_seen) * 1000)::bigint, (extract(epoch FROM w.last_seen) * 1000)::bigint,
       (extract(epoch FROM w.left_at) * 1000)::bigint,
       coalesce(s.n, 0), coalesce(s.e, 0), coalesce(s.tok, 0), s.tps, s.p50
FROM workers w FULL JOIN s USING (worker_id)
WHERE s.n > 0 OR w.last_seen > now() - interval '1 day'
ORDER BY 1)sql";
    std::map<std::string, latency_pair> hists;
    if (rollups) {
        // The table shows each worker's median duration only: its TTFT histograms are not read.
        auto h = query_rollup_histograms(c, "s.worker_id", true, {window_param(window_s), end_param(end_ms)},
                                         rollup_table::dimensions, latency_metrics::duration);
        if (!h) {
            return h.error();
        }
        hists = std::move(h.value());
    }
    auto r = c.query(sql, {window_param(window_s), end_param(end_ms)});
    if (!r) {
        return r.error();
    }
    json workers = json::array();
    for (const auto& row : r.value().rows) {
        workers.push_back({{"worker_id", row[0].value_or("")},
                           {"host", row[1].value_or("")},
                           {"provider", row[2].value_or("")},
                           {"models", as_text_array(row[3])},
                           {"concurrency", as_int(row[4])},
                           {"requests_total", as_int(row[5])},
                           {"tokens_total", as_int(row[6])},
                           {"first_seen_ms", number_or_null(row[7])},
                           {"db_last_seen_ms", number_or_null(row[8])},
                           {"left_at_ms", number_or_null(row[9])},
                           {"window",
                            {{"requests", as_int(row[10])},
                             {"errors", as_int(row[11])},
                             {"completion_tokens", as_int(row[12])},
                             {"mean_tokens_per_s", as_double(row[13])},
                             {"latency_p50_ms", as_double(row[14])}}}});
        if (const auto* h = find_pair(hists, row[0].value_or("")); rollups && h) {
            workers.back()["window"]["latency_p50_ms"] = h->duration.quantile(0.5);
        }
    }
    return json{{"window_s", window_s}, {"workers", std::move(workers)}};
}

}  // namespace llmp::monitor
