#pragma once
// errc: every error code that leaves a process, and the one table that says what each means to
// a client. A code leaves a process as the "code" of an HTTP error body, of an SSE/NDJSON error
// event, of an error message on the broker, or as the audit's error_code. For each code the
// table gives its HTTP status, whether sending the same request again later can succeed, and the
// Retry-After to send with it. Everything that answers an error over HTTP (http/error_response,
// the native, /v1 and /ollama renderers, the monitor, the listener's canned replies) takes status
// and Retry-After from here; the renderers only shape bodies.
//
// Codes stay strings on the wire and in `error` / `error_message`: a newer worker may send a
// code this build does not know, and reply_policy() gives that a defined answer. errc is how code
// in this tree names a code without a string literal. Codes internal to one component (config
// errors, the HTTP client's and the libpq wrapper's codes, malformed broker messages) are not
// here: they never reach a client or another process as they are.
//
// Retry-After: 1 s for every retryable code, because each condition behind them is checked again
// within a second (the publish to the broker, the monitor's database reconnect, a queue that
// drains, another instance behind the load balancer when this one shuts down); 2 s for
// rabbitmq_management_unavailable, which the monitor samples every 2 s by default;
// rate_limit_exceeded's replies set their own, until the window of the limit that refused ends.
//
// Threading: constant data and pure functions; any thread.

#include "common/result.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace llmp {

enum class errc {
    // The request is wrong: sending it again as it is fails again.
    bad_request,  // unreadable HTTP, or no body
    invalid_json,
    missing_field,
    invalid_field,
    invalid_api_key,    // missing, unknown, expired or revoked API key (api --auth keys)
    model_not_allowed,  // the API key may not use the requested model
    forbidden,          // a credential without the right (a viewer key asking for texts), or a Host/Origin refused
    not_found,          // no such route, file or audited request
    model_not_found,    // no live worker serves the model
    method_not_allowed,
    payload_too_large,
    unsupported_media_type,  // a generation route without a JSON body
    // Too many of something from this client, or from this worker's upstream.
    too_many_connections,   // from one address (the listener's canned reply)
    upstream_rate_limited,  // the upstream said so
    rate_limit_exceeded,    // an API key's limit (requests, tokens, streams, budget: api/limiter)
    // The client went away, or stopped reading: no reply is sent; the code is for the audit,
    // and its status is nginx's 499 "client closed request".
    cancelled,
    client_too_slow,
    // This side failed.
    internal_error,
    bad_config,      // a worker's provider is misconfigured
    poison_request,  // every worker holding the request crashed; dead-lettered
    db_error,        // the monitor's database refused the query
    // The upstream behind a worker failed.
    upstream_error,  // instances may be retryable (an upstream 5xx); the code is not
    upstream_unavailable,
    upstream_auth_failed,
    upstream_bad_request,  // the upstream refused what the worker sent
    provider_error,        // the mock provider's requested failure
    // Temporarily unable: retry.
    overloaded,  // too many connections, streams or queued queries here
    queue_full,  // the broker's work queue is at its limit
    broker_unavailable,
    no_workers,
    worker_lost,  // the worker died mid-stream
    // The API server holding the client's connection died before confirming the answer reached
    // its client (the audit decides it; no client is ever sent it: its connection was cut).
    api_lost,
    shutting_down,
    db_unavailable,                   // the monitor's database
    rabbitmq_management_unavailable,  // the monitor's queue statistics
    // Too slow.
    timeout,  // the request's deadline, or no word from a worker for too long
    upstream_timeout,
    query_timeout,  // a monitor query ran past --query-timeout-ms
};

struct errc_info {
    errc code;
    std::string_view name;  ///< on the wire: JSON "code", error messages, the audit's error_code
    int http_status;        ///< 400..599
    bool retryable;         ///< the same request sent again later can succeed
    int retry_after_s;      ///< the Retry-After sent with it; > 0 exactly when retryable
};

/// Every code, in the order of the enum (errc_table()[i].code == errc(i)).
std::span<const errc_info> errc_table();

const errc_info& info(errc c);
std::string_view wire_name(errc c);
/// nullopt for a name this build does not know.
std::optional<errc> errc_from_wire(std::string_view name);

/// The Retry-After of a retryable code this build does not know.
inline constexpr int unknown_retry_after_s = 1;

/// How an error is answered over HTTP.
struct error_reply_policy {
    int http_status;
    bool retryable;     ///< the code's flag, or the error's own (one upstream_error may be)
    int retry_after_s;  ///< 0: no Retry-After header
};

/// The answer to an error with wire code `name`: its row of the table. A name this build does
/// not know (a newer worker's) gets 500, not retryable, unless the error itself says it is
/// retryable: then 503 with Retry-After unknown_retry_after_s. `retryable` is the code's flag or
/// the error's own, whichever says yes; status and Retry-After are the code's alone.
error_reply_policy reply_policy(std::string_view name, bool error_retryable);

/// An llmp::error with c's wire name and retryable flag.
error make_error(errc c, std::string message);

inline auto fail(errc c, std::string message) {
    return boost::outcome_v2::failure(make_error(c, std::move(message)));
}

}  // namespace llmp
