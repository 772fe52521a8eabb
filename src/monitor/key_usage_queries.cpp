#include "monitor/key_usage_queries.hpp"

#include "common/clock.hpp"
#include "monitor/csv.hpp"
#include "monitor/pg_values.hpp"
#include "monitor/rollup_sql.hpp"
#include "monitor/stats_queries.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace llmp::monitor {
namespace {

using nlohmann::json;
using namespace std::chrono;

constexpr std::int64_t day_ms = 86'400'000;

/// Unix ms of a UTC day's midnight from "YYYY-MM-DD", or nullopt.
std::optional<std::int64_t> day_start_ms(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') {
        return std::nullopt;
    }
    auto number = [&](std::size_t at, std::size_t n, int& out) {
        auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, out);
        return ec == std::errc{} && end == s.data() + at + n;
    };
    int y = 0, m = 0, d = 0;
    if (!number(0, 4, y) || !number(5, 2, m) || !number(8, 2, d)) {
        return std::nullopt;
    }
    year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
}

result<std::int64_t> time_bound(const std::string& v, std::string_view what) {
    if (!v.empty() && v.size() <= 15 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::stoll(v);
    }
    if (auto ms = day_start_ms(v)) {
        return *ms;
    }
    return fail("invalid_field", std::string{what} + " must be unix milliseconds or a UTC day YYYY-MM-DD");
}

std::int64_t floor_day(std::int64_t ms) {
    return ms >= 0 ? ms - ms % day_ms : ms - ((ms % day_ms) + day_ms) % day_ms;
}

std::string day_text(std::int64_t ms) {
    const year_month_day ymd{floor<days>(sys_time<milliseconds>{milliseconds{ms}})};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return buf;
}

// Per key (and per day): responses by completion, requests by arrival, joined on the key (and
// day). A NULL key_id (no key) is its own group: the join compares coalesce(key_id, '').
// `r` and `q` are the two per-key CTEs' bodies: columns d, key_id, name, n (and for `r`: e, c,
// pt, ct).
std::string usage_sql(bool per_day, const std::string& r, const std::string& q) {
    return "WITH r AS (" + r + "), q AS (" + q + R"sql(),
     u AS (SELECT coalesce(r.d, q.d) AS d, coalesce(r.key_id, q.key_id) AS key_id, coalesce(r.name, q.name) AS name,
                  coalesce(q.n, 0) AS received, coalesce(r.n, 0) AS n, coalesce(r.e, 0) AS e, coalesce(r.c, 0) AS c,
                  coalesce(r.pt, 0) AS pt, coalesce(r.ct, 0) AS ct
           FROM r FULL JOIN q ON r.d = q.d AND coalesce(r.key_id, '') = coalesce(q.key_id, ''))
SELECT u.d, u.key_id, coalesce(k.name, u.name), k.revoked_at IS NOT NULL, u.received, u.n, u.e, u.c, u.pt, u.ct
FROM u LEFT JOIN api_keys k ON k.id::text = u.key_id
ORDER BY )sql" +
           (per_day ? std::string{"1, 3 NULLS LAST, 2"} : std::string{"u.pt + u.ct DESC, 3 NULLS LAST, 2"});
}

std::string day_of(bool per_day, const std::string& column) {
    return per_day ? "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS d, " : "'' AS d, ";
}

/// usage_sql over the rows themselves.
std::string usage_sql_exact(bool per_day, const std::string& q_where, const std::string& r_where) {
    return usage_sql(per_day,
                     "SELECT " + day_of(per_day, "completed_at") +
                         "key_id, max(key_name) AS name, count(*) AS n, count(*) FILTER (WHERE status = 'error') AS e, "
                         "count(*) FILTER (WHERE status = 'cancelled') AS c, coalesce(sum(prompt_tokens), 0) AS pt, "
                         "coalesce(sum(completion_tokens), 0) AS ct FROM responses WHERE " +
                         r_where + " GROUP BY 1, 2",
                     "SELECT " + day_of(per_day, "received_at") +
                         "key_id, max(key_name) AS name, count(*) AS n FROM requests WHERE " + q_where +
                         " GROUP BY 1, 2");
}

/// usage_sql over the rollups of the window $1 seconds long ending at $2 (rollup_sql.hpp).
std::string usage_sql_rollups(bool per_day) {
    return usage_sql(per_day,
                     "SELECT " + day_of(per_day, "s.t") +
                         "nullif(s.key_id, '') AS key_id, max(s.key_name) AS name, sum(s.n) AS n, sum(s.n) FILTER "
                         "(WHERE s.status = 'error') AS e, sum(s.n) FILTER (WHERE s.status = 'cancelled') AS c, "
                         "sum(s.prompt_tokens) AS pt, sum(s.completion_tokens) AS ct FROM " +
                         rollup_window_sql(true) + " s GROUP BY 1, 2 HAVING sum(s.n) > 0",
                     "SELECT " + day_of(per_day, "s.t") +
                         "nullif(s.key_id, '') AS key_id, max(s.key_name) AS name, sum(s.n) AS n FROM " +
                         request_rollup_window_sql() + " s GROUP BY 1, 2 HAVING sum(s.n) > 0");
}

json usage_row(const pg::row& row) {
    auto n = as_int(row[5]);
    auto errors = as_int(row[6]);
    auto pt = as_int(row[8]);
    auto ct = as_int(row[9]);
    return {{"key_id", text_or_null(row[1])},
            {"key_name", text_or_null(row[2])},
            {"received", as_int(row[4])},
            {"requests", n},
            {"errors", errors},
            {"cancelled", as_int(row[7])},
            {"prompt_tokens", pt},
            {"completion_tokens", ct},
            {"total_tokens", pt + ct}};
}

}  // namespace

result<usage_range> parse_usage_range(const std::optional<std::string>& from, const std::optional<std::string>& to,
                                      std::int64_t now_ms) {
    usage_range r;
    r.to_ms = now_ms;
    if (to) {
        auto t = time_bound(*to, "to");
        if (!t) {
            return t.error();
        }
        r.to_ms = t.value();
    }
    r.from_ms = floor_day(r.to_ms - 1) - 29 * day_ms;
    if (from) {
        auto f = time_bound(*from, "from");
        if (!f) {
            return f.error();
        }
        r.from_ms = f.value();
    }
    if (r.from_ms >= r.to_ms) {
        return fail("invalid_field", "from must be before to");
    }
    if (r.to_ms - r.from_ms > max_usage_days * day_ms) {
        return fail("invalid_field", "from and to may be at most " + std::to_string(max_usage_days) + " days apart");
    }
    return r;
}

result<json> query_key_usage(pg::connection& c, std::int64_t window_s) {
    auto r = counts_read_rollups(window_s)
                 ? c.query(usage_sql_rollups(false), {std::to_string(window_s), std::nullopt})
                 : c.query(usage_sql_exact(false, "received_at > now() - make_interval(secs => $1::float8)",
                                           "completed_at > now() - make_interval(secs => $1::float8)"),
                           {std::to_string(window_s)});
    if (!r) {
        return r.error();
    }
    json keys = json::array();
    for (const auto& row : r.value().rows) {
        json k = usage_row(row);
        k["revoked"] = as_bool(row[3]);
        auto n = k["requests"].get<std::int64_t>();
        k["error_rate"] = n > 0 ? static_cast<double>(k["errors"].get<std::int64_t>()) / static_cast<double>(n) : 0.0;
        keys.push_back(std::move(k));
    }
    return json{{"window_s", window_s}, {"keys", std::move(keys)}};
}

result<json> query_daily_usage(pg::connection& c, const usage_range& range) {
    // From the rollups: the window (to - from] in whole milliseconds, as rollup_sql.hpp reads it.
    const double window_s = static_cast<double>(range.to_ms - range.from_ms) / 1000.0;
    auto r = c.query(usage_sql_rollups(true), {std::to_string(window_s), std::to_string(range.to_ms)});
    if (!r) {
        return r.error();
    }
    json days = json::array();
    for (const auto& row : r.value().rows) {
        json d = usage_row(row);
        d["day"] = row[0].value_or("");
        days.push_back(std::move(d));
    }
    return json{{"from_ms", range.from_ms}, {"to_ms", range.to_ms}, {"days", std::move(days)}};
}

result<json> query_daily_usage(pg::connection& c, const std::optional<std::string>& from,
                               const std::optional<std::string>& to) {
    auto range = parse_usage_range(from, to, unix_ms());
    if (!range) {
        return range.error();
    }
    return query_daily_usage(c, range.value());
}

std::string daily_usage_csv(const json& daily) {
    std::string out =
        "day,key_id,key_name,received,requests,errors,cancelled,prompt_tokens,completion_tokens,total_tokens";
    csv::end_line(out);
    for (const auto& d : daily.value("days", json::array())) {
        auto text = [&](const char* k) {
            const auto& v = d[k];
            csv::append_text(out, v.is_string() ? v.get_ref<const std::string&>() : std::string{});
        };
        text("day");
        for (const char* k : {"key_id", "key_name"}) {
            csv::comma(out);
            text(k);
        }
        for (const char* k :
             {"received", "requests", "errors", "cancelled", "prompt_tokens", "completion_tokens", "total_tokens"}) {
            csv::comma(out);
            csv::append_number(out, d.value(k, std::int64_t{0}));
        }
        csv::end_line(out);
    }
    return out;
}

std::string daily_usage_filename(const usage_range& range) {
    return "llmproxy-usage-" + day_text(range.from_ms) + "-" + day_text(range.to_ms - 1) + ".csv";
}

}  // namespace llmp::monitor
