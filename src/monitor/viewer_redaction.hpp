#pragma once
// viewer_redaction: what a viewer (keys/api_key.hpp: key_role::viewer) sees of the request
// history — the numbers, never a text. Whitelists: a field is shown to viewers only when it is
// named here, so a column added later stays hidden from them until someone decides it is not a
// text. Prompt, messages, options (system prompts, stop words), extra fields, the answer's text
// and error messages (which may quote either) are texts.
//
// Threading: pure functions; any thread.

#include <nlohmann/json.hpp>

namespace llmp::monitor {

/// A /api/requests answer with every row cut to its whitelisted fields (no preview);
/// "texts_hidden": true says so.
nlohmann::json viewer_request_list(const nlohmann::json& list);
/// A /api/requests/{id} answer with request and response cut to their whitelisted fields;
/// chunk timings (no text) stay; "texts_hidden": true.
nlohmann::json viewer_request_detail(const nlohmann::json& detail);

}  // namespace llmp::monitor
