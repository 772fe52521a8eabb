#include "monitor/partition_join_sql.hpp"

namespace llmp::monitor {

// `IN (q.received_at, '-infinity')` is pruned at run time, per outer row, to at most two
// partitions: the request's day and the one holding '-infinity' (the DEFAULT or the legacy
// partition). Each probe is by the partition's (request_received_at, request_id) key.
std::string response_of_request_sql(std::string_view q, std::string_view r) {
    const std::string qs{q};
    const std::string rs{r};
    return rs + ".request_id = " + qs + ".request_id AND " + rs + ".request_received_at IN (" + qs +
           ".received_at, '-infinity')";
}

// The second arm runs only when the first found nothing and the response has no request time
// (its condition is on the outer row alone: a one-time filter), so a response with one reads
// the request's partition by its (received_at, request_id) key and nothing else.
std::string request_column_of_response_sql(std::string_view column, std::string_view r) {
    const std::string c{column};
    const std::string rs{r};
    return "(SELECT q_.\"" + c + "\" FROM requests q_ WHERE q_.received_at = " + rs +
           ".request_received_at AND q_.request_id = " + rs + ".request_id UNION ALL SELECT q_.\"" + c +
           "\" FROM requests q_ WHERE " + rs + ".request_received_at = '-infinity' AND q_.request_id = " + rs +
           ".request_id LIMIT 1)";
}

std::string request_received_at_of_response_sql(std::string_view r) {
    const std::string rs{r};
    return "(CASE WHEN " + rs + ".request_received_at <> '-infinity' THEN " + rs + ".request_received_at ELSE " +
           request_column_of_response_sql("received_at", r) + " END)";
}

}  // namespace llmp::monitor
