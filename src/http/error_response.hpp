#pragma once
// JSON responses, and error replies whose status and Retry-After come from the one table of
// error codes (common/errc.hpp; style.md §4.2). Native routes answer {"error": {"code": "...",
// "message": "..."}}; the other front doors shape their own bodies and pass them in.
//
// Threading: pure functions; any thread.

#include "common/result.hpp"
#include "http/server.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace llmp::http_server {

response json_response(http::status status, const nlohmann::json& body);

/// A reply to `e` with `body` as its route shapes it: the status and, for a retryable code, the
/// Retry-After of e's code.
response error_response(const error& e, const nlohmann::json& body);

/// The native shape: error_response(e, {"error": {"code": e.code, "message": e.message}}).
response error_response(const error& e);

}  // namespace llmp::http_server
