#include "audit/partitions.hpp"

#include "audit/logger.hpp"
#include "pg/connection.hpp"

namespace llmp::audit {
namespace {

/// The range partitions of $1 with their bounds (MINVALUE as -infinity) and estimated rows.
constexpr std::string_view bounds_sql = R"sql(
SELECT c.relname::text AS name,
       coalesce((regexp_match(b, 'FROM \(''([^'']*)''\)'))[1]::timestamptz, '-infinity') AS lo,
       coalesce((regexp_match(b, 'TO \(''([^'']*)''\)'))[1]::timestamptz, 'infinity') AS hi,
       greatest(c.reltuples, 0)::bigint AS n
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, pg_get_expr(c.relpartbound, c.oid) AS b
WHERE i.inhparent = $1::regclass AND b <> 'DEFAULT')sql";

// A day partition is named <table>_pYYYYMMDD.
constexpr std::string_view day_suffix_regex = "_p[0-9]{8}$";

/// Runs `sql` (several statements) in one transaction whose lock waits give up after 2 s.
result<void> in_short_transaction(pg::connection& c, const std::string& sql) {
    auto r = c.exec("BEGIN; SET LOCAL lock_timeout = '2s'; " + sql + "; COMMIT");
    if (!r) {
        (void)c.exec("ROLLBACK");
    }
    return r;
}

}  // namespace

result<int> create_day_partitions(pg::connection& c, const std::string& from, int days_ahead) {
    int created = 0;
    for (const auto& t : partitioned_tables) {
        auto days =
            c.query("WITH b AS (" + std::string{bounds_sql} +
                        ")"
                        " SELECT to_char(d AT TIME ZONE 'UTC', 'YYYYMMDD'), d::text, (d + interval '1 day')::text"
                        " FROM generate_series(date_trunc('day', $2::timestamptz, 'UTC'),"
                        " date_trunc('day', $2::timestamptz, 'UTC') + make_interval(days => $3::int),"
                        " interval '1 day') AS d"
                        " WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.lo < d + interval '1 day' AND b.hi > d)"
                        " ORDER BY d",
                    {t.name, from, std::to_string(days_ahead)});
        if (!days) {
            return days.error();
        }
        for (const auto& row : days.value().rows) {
            const std::string table = t.name;
            const std::string part = table + "_p" + row.at(0).value_or("");
            // An empty table with the parent's columns, defaults, CHECKs and compression (pg
            // migration 34: ATTACH does not copy it), attached: the parent's key and indexes
            // are built on it then (empty: at once).
            auto r = in_short_transaction(
                c, "CREATE TABLE IF NOT EXISTS " + part + " (LIKE " + table +
                       " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION); CREATE INDEX IF NOT EXISTS " +
                       part + "_request_id_idx ON " + part + " (request_id); ALTER TABLE " + table +
                       " ATTACH PARTITION " + part + " FOR VALUES FROM ('" + row.at(1).value_or("") + "') TO ('" +
                       row.at(2).value_or("") + "')");
            if (!r) {
                if (!c.healthy()) {
                    return r.error();
                }
                // A lock wait past the timeout, or rows of that day in the DEFAULT partition
                // already (the service was down past the days ahead): those stay there, trimmed
                // by the batched DELETE; the next days are still created.
                logger()->warn("msg=\"day partition not created\" table={} partition={} error=\"{}\"", table, part,
                               r.error().message);
                continue;
            }
            logger()->info("msg=\"day partition created\" table={} partition={}", table, part);
            ++created;
        }
    }
    return created;
}

result<dropped_partitions> drop_expired_partitions(pg::connection& c, const std::string& cutoff) {
    dropped_partitions out;
    for (const auto& t : partitioned_tables) {
        auto expired = c.query("WITH b AS (" + std::string{bounds_sql} +
                                   ") SELECT name, n::text, hi::text FROM b WHERE hi <= $2::timestamptz ORDER BY hi",
                               {t.name, cutoff});
        if (!expired) {
            return expired.error();
        }
        for (const auto& row : expired.value().rows) {
            const std::string part = row.at(0).value_or("");
            // The text search's covered range starts at the dropped partition's end at the
            // earliest (a covered range below it would reach the DEFAULT partition).
            const bool requests = std::string_view{t.name} == "requests";
            const std::string coverage =
                requests ? "; UPDATE search_coverage SET covered_from = least(greatest(covered_from, '" +
                               row.at(2).value_or("") + "'::timestamptz), covered_until), updated_at = now()"
                         : std::string{};
            auto r = in_short_transaction(c, std::string{"ALTER TABLE "} + t.name + " DETACH PARTITION " + part +
                                                 "; DROP TABLE " + part + coverage);
            if (!r) {
                logger()->warn(
                    "msg=\"expired partition not dropped; retried at the next pass\" partition={} error=\"{}\"", part,
                    r.error().message);
                continue;
            }
            const auto n = std::stoll(row.at(1).value_or("0"));
            (requests ? out.requests : out.responses) += n;
            ++out.partitions;
            logger()->info("msg=\"expired partition dropped\" table={} partition={} rows_estimated={}", t.name, part,
                           n);
        }
    }
    return out;
}

std::string_view range_partitions_sql() {
    return bounds_sql;
}

result<std::vector<std::string>> trimmed_partitions(pg::connection& c, const std::string& table) {
    auto r = c.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = $1::regclass AND c.relname !~ $2"
        " UNION ALL SELECT $1::regclass::text FROM pg_class WHERE oid = $1::regclass AND relkind = 'r'",
        {table, std::string{day_suffix_regex}});
    if (!r) {
        return r.error();
    }
    std::vector<std::string> out;
    for (const auto& row : r.value().rows) {
        out.push_back(row.at(0).value_or(""));
    }
    return out;
}

}  // namespace llmp::audit
