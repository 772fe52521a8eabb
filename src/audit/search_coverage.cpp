#include "audit/search_coverage.hpp"

#include "audit/logger.hpp"
#include "audit/partitions.hpp"
#include "pg/connection.hpp"

#include <algorithm>

namespace llmp::audit {
namespace {

// The range partition to cover next: the first whose end is past the covered range's (when the
// range is empty, the lowest of those). `adjacent` says whether it starts where the range ends
// (a gap would put a day without a partition, so the DEFAULT partition, in the range).
constexpr std::string_view next_sql = R"sql(
WITH b AS (%s), c AS (SELECT covered_from, covered_until FROM search_coverage)
SELECT b.name, b.lo::text, b.hi::text, b.hi <= now() - make_interval(secs => $2::float8),
       b.lo = c.covered_until OR c.covered_from = c.covered_until, c.covered_from::text, c.covered_until::text,
       c.covered_until + interval '1 day' <= now() - make_interval(secs => $2::float8)
FROM b, c WHERE b.hi > c.covered_until ORDER BY b.lo LIMIT 1)sql";

// The covered days' rows left in request_search and search_backlog, a batch ($1 rows) of each.
constexpr std::string_view covered_rows_sql[] = {
    "DELETE FROM request_search WHERE ctid = ANY (ARRAY(SELECT s.ctid FROM request_search s, search_coverage c"
    " WHERE s.received_at >= c.covered_from AND s.received_at < c.covered_until LIMIT $1::int))",
    "DELETE FROM search_backlog WHERE ctid = ANY (ARRAY(SELECT s.ctid FROM search_backlog s, search_coverage c"
    " WHERE s.received_at >= c.covered_from AND s.received_at < c.covered_until LIMIT $1::int))",
};

std::string index_name(const std::string& partition) {
    return partition + "_search_trgm_idx";
}

/// The partition's search index, built unless a valid one exists (an invalid one, left by a
/// build cut short, is dropped first).
result<void> build_index(pg::connection& c, const std::string& partition) {
    const auto name = index_name(partition);
    auto valid = c.query("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", {name});
    if (!valid) {
        return valid.error();
    }
    if (!valid.value().rows.empty()) {
        if (valid.value().rows.at(0).at(0).value_or("f") == "t") {
            return ok();
        }
        if (auto r = c.exec("DROP INDEX CONCURRENTLY IF EXISTS " + name); !r) {
            return r;
        }
    }
    auto t0 = std::chrono::steady_clock::now();
    // The statement is pg migration 37's (the bench's loader builds the same index).
    auto sql = c.query("SELECT llmp_search_index_sql($1, true)", {partition});
    if (!sql) {
        return sql.error();
    }
    if (auto r = c.exec(sql.value().rows.at(0).at(0).value_or("")); !r) {
        return r;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    logger()->info("msg=\"search index of a closed day built\" partition={} index={} ms={}", partition, name,
                   ms.count());
    return ok();
}

/// Extends the coverage over the partition [lo, hi) if it is still where it was read (from, until)
/// and the partition is still there with its valid index: the partition is locked (ACCESS SHARE)
/// so that no drop detaches it before the commit. False when something changed meanwhile.
result<bool> extend(pg::connection& c, const std::string& partition, const std::string& lo, const std::string& hi,
                    const std::string& from, const std::string& until) {
    if (auto r = c.exec("BEGIN; SET LOCAL lock_timeout = '2s'; LOCK TABLE " + partition + " IN ACCESS SHARE MODE");
        !r) {
        (void)c.exec("ROLLBACK");
        return r.error();
    }
    auto u = c.query(
        "UPDATE search_coverage SET covered_from = CASE WHEN covered_from = covered_until THEN $1::timestamptz ELSE"
        " covered_from END, covered_until = $2::timestamptz, updated_at = now()"
        " WHERE covered_from = $3::timestamptz AND covered_until = $4::timestamptz"
        " AND (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($5))"
        " AND EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($6) AND inhparent = 'requests'::regclass)",
        {lo, hi, from, until, index_name(partition), partition});
    if (!u) {
        (void)c.exec("ROLLBACK");
        return u.error();
    }
    if (auto r = c.exec("COMMIT"); !r) {
        return r.error();
    }
    return u.value().affected == 1;
}

}  // namespace

result<search_coverage_pass> cover_closed_partitions(pg::connection& c, std::chrono::seconds margin, int batch_rows,
                                                     const std::function<bool()>& keep_going) {
    search_coverage_pass pass;
    std::string sql{next_sql};
    sql.replace(sql.find("%s"), 2, range_partitions_sql());
    const auto margin_s = std::to_string(margin.count());
    bool gap_tried = false;
    while (keep_going()) {
        auto next = c.query(sql, {"requests", margin_s});
        if (!next) {
            return next.error();
        }
        if (next.value().rows.empty()) {
            break;
        }
        const auto& row = next.value().rows.at(0);
        const auto part = row.at(0).value_or("");
        const bool closed = row.at(3).value_or("f") == "t";
        const bool adjacent = row.at(4).value_or("f") == "t";
        const auto from = row.at(5).value_or("");
        const auto until = row.at(6).value_or("");
        if (!adjacent) {
            // A closed day without a partition after the covered range: created empty if the
            // DEFAULT partition holds none of its rows (create_day_partitions says why not).
            const bool gap_closed = row.at(7).value_or("f") == "t";
            if (!gap_closed || gap_tried) {
                break;
            }
            gap_tried = true;
            auto made = create_day_partitions(c, until, 0);
            if (!made) {
                return made.error();
            }
            continue;
        }
        if (!closed) {
            break;
        }
        if (auto r = build_index(c, part); !r) {
            return r.error();
        }
        auto moved = extend(c, part, row.at(1).value_or(""), row.at(2).value_or(""), from, until);
        if (!moved) {
            return moved.error();
        }
        if (!moved.value()) {
            // Dropped or covered by someone else meanwhile: the next pass looks again.
            break;
        }
        gap_tried = false;
        ++pass.partitions;
        logger()->info("msg=\"closed day searched through its partition's index\" partition={}", part);
    }
    const int batch = std::max(1, batch_rows);
    for (auto rows_sql : covered_rows_sql) {
        while (keep_going()) {
            auto r = c.query(std::string{rows_sql}, {std::to_string(batch)});
            if (!r) {
                return r.error();
            }
            pass.search_rows += r.value().affected;
            if (r.value().affected < batch) {
                break;
            }
        }
    }
    return pass;
}

}  // namespace llmp::audit
