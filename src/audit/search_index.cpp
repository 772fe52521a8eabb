#include "audit/search_index.hpp"

#include "pg/connection.hpp"

#include <algorithm>

namespace llmp::audit {
namespace {

// `doc` is the text monitor/request_queries.cpp's search_text matches (the prompt and the
// messages as JSON text): the same expression, so a request matches alike queued or indexed.
// The queue holds each request's received_at (its trigger copies it): the join names the
// partition column, so each probe reads one day's partition (pg migration 29).
constexpr std::string_view batch_sql = R"sql(
WITH b AS (DELETE FROM search_backlog WHERE request_id IN (
               SELECT request_id FROM search_backlog ORDER BY received_at DESC LIMIT $1::int FOR UPDATE SKIP LOCKED)
           RETURNING request_id, received_at),
i AS (INSERT INTO request_search (request_id, received_at, doc)
      SELECT q.request_id, q.received_at, coalesce(q.prompt, '') || ' ' || coalesce(q.messages::text, '')
      FROM b JOIN requests q ON q.received_at = b.received_at AND q.request_id = b.request_id
      ON CONFLICT (request_id) DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM i))sql";

std::int64_t as_count(const std::optional<std::string>& v) {
    return v ? std::stoll(*v) : 0;
}

}  // namespace

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
        if (taken < batch) {
            break;
        }
    }
    return pass;
}

}  // namespace llmp::audit
