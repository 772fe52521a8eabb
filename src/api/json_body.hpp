#pragma once
// The first step of every flavour's body parser: the body must be one JSON object. Pure, any
// thread; the errors are the 400s every flavour answers alike.

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace llmp::api {

/// The body as a JSON object; "bad_request" when empty, "invalid_json" (with the byte offset)
/// when it does not parse or is not an object, or when it nests deeper than
/// max_request_json_depth (64) levels.
result<nlohmann::json> parse_json_object(std::string_view body);

}  // namespace llmp::api
