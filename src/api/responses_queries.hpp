#pragma once
// The SQL of the Responses API's read path (api/responses_store.hpp): a stored Responses API
// request with its response, read back from the audit's requests and responses rows (the
// request's extra.responses holds what the Response object echoes and the input items), and
// DELETE's mark in deleted_responses (migration 21). Called on a responses_store thread, which
// owns the connection.

#include "api/responses_objects.hpp"
#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <cstdint>
#include <string>
#include <vector>

namespace llmp::pg {
class connection;
}

namespace llmp::api {

/// A Responses API request as the audit stored it.
struct stored_response {
    response_head head;
    response_outcome outcome;                              ///< status in_progress until its response row is stored
    nlohmann::json messages = nlohmann::json::array();     ///< the conversation the model was sent
    nlohmann::json input_items = nlohmann::json::array();  ///< this request's input, normalized
    bool store = true;                                     ///< false: the client asked not to keep it
    bool deleted = false;                                  ///< DELETE /v1/responses/{id} was called
    std::string key_id;                                    ///< the API key it came with; empty = none
    bool background = false;  ///< created with background (published under broker::background_server_id)
    bool finished() const { return outcome.status != "in_progress"; }
    /// Readable by the API: stored on request and not deleted.
    bool visible() const { return store && !deleted; }
};

/// Which stored requests a read finds: those made through POST /v1/responses, or the native
/// routes' resumable streams (published under broker::background_server_id; read back by
/// GET /api/streams/{id}, with no Responses fields).
enum class stored_request_kind { responses, resumable_stream };

/// The stored request `request_id` of that kind, or nullopt.
result<std::optional<stored_response>> query_stored_response(pg::connection& conn, const std::string& request_id,
                                                             stored_request_kind kind = stored_request_kind::responses);
/// One stored chunk of a background generation (response_chunks): the text of the tokens after
/// the previous chunk's seq, up to and including `seq`.
struct stored_chunk {
    std::int64_t seq = 0;
    std::string text;
};

/// The stored chunks of `request_id`'s latest attempt, in seq order (a worker that took over a
/// redelivered request starts again from seq 1 under a new attempt).
result<std::vector<stored_chunk>> query_stored_chunks(pg::connection& conn, const std::string& request_id);
/// Marks a visible response deleted; false when there is none (or it is deleted already).
result<bool> mark_response_deleted(pg::connection& conn, const std::string& request_id);

}  // namespace llmp::api
