#include "audit/search_index.hpp"

#include "pg/connection.hpp"

#include <algorithm>

namespace llmp::audit {
namespace {

// `doc` is llmp_search_doc(prompt, messages) (pg migration 36), the text the monitor matches:
// the same function, so a request matches alike queued or indexed. The queue holds each
// request's received_at (its trigger copies it): the join names the partition column, so each
// probe reads one day's partition (pg migration 29). A queued request of a day whose partition
// has its own search index (search_coverage: a late row of a closed day) is only dequeued,
// that index has it already. The queue has no key (pg migration 38): rows are taken by ctid, a
// TID scan, and a key queued twice is inserted once (ON CONFLICT).
constexpr std::string_view batch_sql = R"sql(
WITH b AS (DELETE FROM search_backlog WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM search_backlog ORDER BY received_at DESC LIMIT $1::int FOR UPDATE SKIP LOCKED))
           RETURNING request_id, received_at),
c AS (SELECT covered_from, covered_until FROM search_coverage),
i AS (INSERT INTO request_search (request_id, received_at, doc)
      SELECT q.request_id, q.received_at, llmp_search_doc(q.prompt, q.messages)
      FROM b JOIN requests q ON q.received_at = b.received_at AND q.request_id = b.request_id LEFT JOIN c ON true
      WHERE c.covered_from IS NULL OR b.received_at < c.covered_from OR b.received_at >= c.covered_until
      ON CONFLICT (request_id) DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM i),
       (SELECT count(*) FROM b, c WHERE b.received_at >= c.covered_from AND b.received_at < c.covered_until))sql";

std::int64_t as_count(const std::optional<std::string>& v) {
    return v ? std::stoll(*v) : 0;
}

}  // namespace

std::function<bool()> search_index_pace(std::function<bool()> keep_going, std::function<bool()> ingest_behind) {
    return [keep_going = std::move(keep_going), ingest_behind = std::move(ingest_behind), first = true]() mutable {
        if (!keep_going()) {
            return false;
        }
        const bool go = first || !ingest_behind || !ingest_behind();
        first = false;
        return go;
    };
}

result<search_index_pass> index_search_backlog(pg::connection& c, int batch_rows,
                                               const std::function<bool()>& keep_going) {
    const int batch = std::max(1, batch_rows);
    search_index_pass pass;
    while (keep_going()) {
        auto r = c.query(batch_sql, {std::to_string(batch)});
        if (!r) {
            return r.error();
        }
        const auto& row = r.value().rows.at(0);
        const auto taken = as_count(row.at(0));
        pass.dequeued += taken;
        pass.indexed += as_count(row.at(1));
        pass.covered += as_count(row.at(2));
        if (taken < batch) {
            break;
        }
    }
    return pass;
}

}  // namespace llmp::audit
