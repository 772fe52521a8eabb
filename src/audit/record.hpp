#pragma once
// The record model: what one audit delivery becomes (a row of `requests`, `responses`,
// `response_chunks`, a `workers` heartbeat, or an API server's delivery confirmation), and the cleaning every text goes through on the
// way (NUL bytes stripped, invalid UTF-8 replaced: PostgreSQL's text and jsonb refuse both).
//
// Pure functions, callable from any thread; decode_record runs on the consumer thread so the
// writer thread only formats and writes.

#include "broker/message.hpp"
#include "common/delivery_confirmation.hpp"
#include "common/messages.hpp"
#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace llmp::audit {

/// Which audit queue a delivery came from.
enum class source { requests, responses, heartbeats };

struct request_row {
    std::string request_id;
    std::int64_t received_at_ms = 0;
    std::string server_id;
    std::string api_flavour;
    std::string route;
    std::string kind;  ///< chat | generate
    std::string model;
    std::string model_alias;  ///< the alias the client sent; empty = none (NULL)
    bool stream = true;
    int priority = 0;
    std::optional<std::string> messages_json;  ///< chat: the messages array as JSON; embed: the input array
    std::optional<std::string> prompt;         ///< generate
    std::string options_json = "{}";
    std::string extra_json = "{}";
    std::string client_addr;
    std::string user_agent;
    std::int64_t deadline_ms = 0;  ///< 0 = none
    std::string key_id;            ///< the API key that admitted it; empty = none (NULL)
    std::string key_name;
};

struct response_row {
    std::string request_id;
    std::string status;  ///< ok | error | cancelled
    std::string server_id;
    std::string worker_id;
    std::string provider;
    std::string model;
    std::string done_reason;
    std::string text;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    double ttft_ms = 0;
    double duration_ms = 0;
    double tokens_per_s = 0;
    std::string error_code;
    std::string error_message;
    bool retryable = false;
    std::string provider_metrics_json = "{}";
    std::string tool_calls_json;  ///< the final's tool_calls array; empty = none (NULL)
    /// n > 1: the final's choices after the first ([{index, done_reason, text, tool_calls?,
    /// logprobs?}]; choice 0 is text, done_reason and tool_calls); empty = none (NULL)
    std::string choices_json;
    std::int64_t completed_at_ms = 0;
    /// "worker", or "api" for an API server's verdict (broker::verdict_type): what its client
    /// was told decides status and error; the worker's report keeps the text, counts and timings.
    std::string reported_by = "worker";
    std::string key_id;  ///< the request's API key, copied by the worker or the API; empty = none (NULL)
    std::string key_name;
    /// The request's received_at (its day partition of `responses`: pg migration 29), copied
    /// by the worker or the API; 0 = unknown (an older process): stored as -infinity.
    std::int64_t request_received_at_ms = 0;
};

struct chunk_row {
    std::string request_id;
    std::int64_t attempt = 1;
    std::int64_t seq = 0;
    std::string worker_id;
    std::int64_t received_at_ms = 0;  ///< when the audit consumer received it
    std::string text;
};

/// The chunk rows of one delivery: one for a single stream's `*.chunk` message, one per frame
/// for a multiplexed `*.chunks` message (common/chunk_frames.hpp). They are written and acked
/// together: a delivery is never half stored.
struct chunk_rows {
    std::vector<chunk_row> rows;
};

/// delivery_confirmation: an API server's list of the worker outcomes it handed to its clients
/// (and its keep-alive); no row of the tables above, it goes to the delivery ledger
/// (audit/api_loss.hpp), written and acked with its batch.
using record = std::variant<request_row, response_row, chunk_rows, worker_heartbeat, delivery_confirmation>;

/// How requests are stored.
struct decode_options {
    /// Keep images' base64 bytes in the row; by default each becomes {sha256, bytes}
    /// (audit/image_digest.hpp).
    bool image_bytes = false;
};

/// Decodes one delivery. An error means the message can never be stored (malformed): the
/// caller dead-letters it with error().message as the reason. `arrival_ms` is the wall clock
/// at receipt, used for chunks and when an event carries no timestamp of its own.
result<record> decode_record(source from, const broker::delivery& d, std::int64_t arrival_ms,
                             const decode_options& options = {});
/// decode_record without the simdjson fast path (audit/fast_decode.hpp): the nlohmann decoder
/// that path falls back to and must agree with (record_test holds the two to the same rows).
result<record> decode_record_reference(source from, const broker::delivery& d, std::int64_t arrival_ms,
                                       const decode_options& options = {});

/// The event time of a record (wall-clock ms): what the lag is measured from.
std::int64_t event_time_ms(const record& r);
/// Rows of a table a record makes (chunk_rows: one per chunk; a heartbeat: 0).
std::size_t row_count(const record& r);
/// Whether a record is audit history (a request, a response, chunks): what the row counters and
/// the ingest lag count. A heartbeat or an API server's delivery confirmation (its keep-alives
/// come every interval) is bookkeeping, not history.
bool is_audit_row(const record& r);

/// `s` without NUL bytes and with every invalid UTF-8 sequence replaced by U+FFFD.
std::string clean_text(std::string_view s);
/// clean_text applied to every string and key of `j`.
void clean_json(nlohmann::json& j);
/// Compact JSON text of `j`, cleaned.
std::string clean_dump(nlohmann::json j);

}  // namespace llmp::audit
