#pragma once
// The one JSON reader for bytes from outside the process: client request bodies (api) and
// broker messages (common/messages, audit). nlohmann's copy, dump and comparison recurse once
// per nesting level, so a body of a few hundred KB with 200,000 levels of `[` would overflow
// the stack of whatever touches the value later. This parser builds the same DOM as
// nlohmann::json::parse, iteratively (nlohmann's SAX driver keeps its own stack), and stops
// at the first container deeper than the limit, before any of it is built. Pure, any thread.

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string_view>

namespace llmp {

/// Deepest nesting of arrays and objects in a client's request body (the top-level object
/// counts as level 1). Generous for JSON schemas and tool definitions.
constexpr std::size_t max_request_json_depth = 64;

/// Deepest nesting in a broker message. The request envelope moves a client's pass-through
/// keys one level down (`extra.<key>`), so a body the API accepted must still decode; the
/// margin keeps that true, the bound keeps the recursion of every consumer small.
constexpr std::size_t max_message_json_depth = max_request_json_depth + 2;

/// Parses `text` as one JSON value nested at most `max_depth` levels. On failure the error's
/// code is "invalid_json" and its message completes "<the text> is ...": "not valid JSON
/// (at byte N)" or "nested deeper than 64 levels".
result<nlohmann::json> parse_json_bounded(std::string_view text, std::size_t max_depth);

}  // namespace llmp
