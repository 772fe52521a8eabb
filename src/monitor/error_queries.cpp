#include "monitor/error_queries.hpp"

#include "monitor/partition_join_sql.hpp"
#include "monitor/pg_values.hpp"
#include "monitor/rollup_sql.hpp"
#include "monitor/stats_queries.hpp"

namespace llmp::monitor {

using nlohmann::json;

result<json> query_errors(pg::connection& c, std::int64_t window_s, std::optional<std::int64_t> end_ms) {
    // A response whose request row is missing (the API's record was lost) still counts, under "?".
    const std::string window = std::to_string(window_s);
    const std::optional<std::string> end = end_ms ? std::optional<std::string>{std::to_string(*end_ms)} : std::nullopt;
    const std::string range =
        " r.completed_at > coalesce(to_timestamp($2::float8 / 1000), now()) - make_interval(secs => $1::float8)"
        " AND r.completed_at <= coalesce(to_timestamp($2::float8 / 1000), now())";
    // The request's route from its day partition (partition_join_sql.hpp), as the rollups'
    // trigger finds it: a join by request_id alone probes every daily partition per response.
    const std::string route = "coalesce(" + request_column_of_response_sql("route") + ", '?')";
    // Over a wide window from error_rollups (pg migration 33; the partial minutes at the edges
    // from the responses). The counts equal the exact query's; the route is the one the
    // trigger found when the response was stored (a response stored before its request counts
    // under "?", as in the other rollups), and the time of the latest can be later than the
    // exact one when a response counted there was merged since into another status or code
    // (the rollup keeps the latest time it ever counted).
    auto errors = counts_read_rollups(window_s)
                      ? c.query(
                            "SELECT coalesce(nullif(s.route, ''), '?'), s.status, s.error_code, sum(s.n),"
                            " (extract(epoch FROM max(s.last_at) FILTER (WHERE s.n > 0)) * 1000)::bigint FROM " +
                                error_rollup_window_sql() +
                                " s GROUP BY 1, 2, 3 HAVING sum(s.n) > 0 ORDER BY 4 DESC, 1, 2, 3 LIMIT 200",
                            {window, end})
                      : c.query("SELECT " + route +
                                    ", r.status, r.error_code, count(*),"
                                    " (extract(epoch FROM max(r.completed_at)) * 1000)::bigint FROM responses r WHERE" +
                                    range + " AND r.status <> 'ok' GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 200",
                                {window, end});
    if (!errors) {
        return errors.error();
    }
    // Per route over a wide window: from the rollups (rollup_sql.hpp), not a join of every
    // response in it with its request.
    auto routes =
        counts_read_rollups(window_s)
            ? c.query(
                  "SELECT coalesce(nullif(s.route, ''), '?'), sum(s.n), sum(s.n) FILTER (WHERE s.status = 'error'),"
                  " sum(s.n) FILTER (WHERE s.status = 'cancelled') FROM " +
                      rollup_window_sql(true) + " s GROUP BY 1 HAVING sum(s.n) > 0 ORDER BY 2 DESC, 1",
                  {window, end})
            : c.query("SELECT " + route +
                          ", count(*), count(*) FILTER (WHERE r.status = 'error'),"
                          " count(*) FILTER (WHERE r.status = 'cancelled') FROM responses r WHERE" +
                          range + " GROUP BY 1 ORDER BY 2 DESC, 1",
                      {window, end});
    if (!routes) {
        return routes.error();
    }
    json out{{"errors", json::array()}, {"routes", json::array()}};
    for (const auto& row : errors.value().rows) {
        out["errors"].push_back({{"route", text_or_null(row[0])},
                                 {"status", text_or_null(row[1])},
                                 {"code", text_or_null(row[2])},
                                 {"count", as_int(row[3])},
                                 {"last_ms", as_int(row[4])}});
    }
    for (const auto& row : routes.value().rows) {
        auto n = as_int(row[1]);
        auto e = as_int(row[2]);
        out["routes"].push_back({{"route", text_or_null(row[0])},
                                 {"requests", n},
                                 {"errors", e},
                                 {"cancelled", as_int(row[3])},
                                 {"error_rate", n > 0 ? static_cast<double>(e) / static_cast<double>(n) : 0.0}});
    }
    return out;
}

}  // namespace llmp::monitor
