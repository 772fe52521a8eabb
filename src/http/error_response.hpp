#pragma once
// JSON responses and the one mapping from an llmp::error to an HTTP status (style.md §4.2).
// Native routes answer {"error": {"code": "...", "message": "..."}}.

#include "common/result.hpp"
#include "http/server.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace llmp::http_server {

response json_response(http::status status, const nlohmann::json& body);
response json_error(http::status status, std::string_view code, std::string_view message);

/// The status for an error code ("model_not_found" -> 404, "overloaded" -> 503, ...).
http::status status_for(const error& e);

/// json_error(status_for(e), e.code, e.message), plus Retry-After on 503/429.
response error_response(const error& e);

}  // namespace llmp::http_server
