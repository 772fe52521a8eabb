#include "monitor/stats_queries.hpp"

#include "monitor/model_name_sql.hpp"
#include "monitor/pg_values.hpp"

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

}  // namespace

result<json> query_overview(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    const std::string end = end_sql(2);
    std::string sql = "SELECT " + std::string{aggregates} + ", (SELECT count(*) FROM requests WHERE received_at > " +
                      end + " - make_interval(secs => $1::float8) AND received_at <= " + end +
                      "), (extract(epoch FROM " + end +
                      ") * 1000)::bigint"
                      " FROM responses r WHERE r.completed_at > " +
                      end + " - make_interval(secs => $1::float8) AND r.completed_at <= " + end;
    auto r = c.query(sql, {window_param(window_s), end_param(end_ms)});
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
    const std::string end = end_sql(3);
    std::string sql = R"sql(
WITH p AS (SELECT make_interval(secs => $2::float8) AS b,
                  date_bin(make_interval(secs => $2::float8), )sql" +
                      end + R"sql( - make_interval(secs => $1::float8),
                           timestamptz 'epoch') AS t0,
                  date_bin(make_interval(secs => $2::float8), )sql" +
                      end + R"sql(, timestamptz 'epoch') AS t1),
agg AS (SELECT date_bin(p.b, r.completed_at, timestamptz 'epoch') AS t, )sql" +
                      std::string{aggregates} + R"sql(
        FROM responses r, p WHERE r.completed_at >= p.t0 AND r.completed_at < p.t1 + p.b GROUP BY 1)
SELECT (extract(epoch FROM s.t) * 1000)::bigint, a.*
FROM p CROSS JOIN LATERAL generate_series(p.t0, p.t1, p.b) AS s(t) LEFT JOIN agg a ON a.t = s.t
ORDER BY s.t)sql";
    auto r = c.query(sql, {window_param(window_s), std::to_string(bucket_s), end_param(end_ms)});
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
    const std::string end = end_sql(2);
    // One row a model, however the client or the worker spelled its name (model_name_sql.hpp).
    std::string sql = "SELECT " + normalized_model_sql("coalesce(nullif(r.model, ''), q.model, '')") + " AS m, " +
                      std::string{aggregates} +
                      " FROM responses r LEFT JOIN requests q USING (request_id)"
                      " WHERE r.completed_at > " +
                      end + " - make_interval(secs => $1::float8) AND r.completed_at <= " + end +
                      " GROUP BY 1 ORDER BY 2 DESC, 1";
    auto r = c.query(sql, {window_param(window_s), end_param(end_ms)});
    if (!r) {
        return r.error();
    }
    json models = json::array();
    for (const auto& row : r.value().rows) {
        json m = aggregate_json(row, 1, static_cast<double>(window_s));
        m["model"] = row[0].value_or("");
        models.push_back(std::move(m));
    }
    return json{{"window_s", window_s}, {"models", std::move(models)}};
}

result<json> query_worker_totals(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    const std::string end = end_sql(2);
    std::string sql = R"sql(
WITH s AS (SELECT r.worker_id, count(*) AS n, count(*) FILTER (WHERE r.status = 'error') AS e,
                  coalesce(sum(r.completion_tokens), 0) AS tok,
                  avg(r.tokens_per_s) FILTER (WHERE r.status = 'ok' AND r.tokens_per_s > 0) AS tps,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) FILTER (WHERE r.status = 'ok') AS p50
           FROM responses r
)sql" + std::string{"           WHERE r.completed_at > "} +
                      end + " - make_interval(secs => $1::float8) AND r.completed_at <= " + end + R"sql(
             AND r.worker_id IS NOT NULL
           GROUP BY 1)
SELECT worker_id, w.host, w.provider, w.models, w.concurrency, w.requests_total, w.tokens_total,
       (extract(epoch FROM w.first_seen) * 1000)::bigint, (extract(epoch FROM w.last_seen) * 1000)::bigint,
       (extract(epoch FROM w.left_at) * 1000)::bigint,
       coalesce(s.n, 0), coalesce(s.e, 0), coalesce(s.tok, 0), s.tps, s.p50
FROM workers w FULL JOIN s USING (worker_id)
WHERE s.n > 0 OR w.last_seen > now() - interval '1 day'
ORDER BY 1)sql";
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
    }
    return json{{"window_s", window_s}, {"workers", std::move(workers)}};
}

}  // namespace llmp::monitor
