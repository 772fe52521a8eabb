#pragma once
// Server-Sent Events framing (WHATWG rules, protocols.md §3): pure functions that append one
// event to a buffer, so a writer can batch several events into one chunk.

#include <string>
#include <string_view>

namespace llmp::sse {

/// Appends "event: <event>\n" (if non-empty), "id: <id>\n" (if non-empty), one "data: " line
/// per line of `data` (CR, LF and CRLF all split), and the blank line that dispatches it.
/// `data` must not be empty (an event with no data is never dispatched); an empty `data` is
/// sent as one empty data line.
void append_event(std::string& out, std::string_view event, std::string_view data, std::string_view id = {});

/// Appends ": <text>\n\n" — a comment, used as a keep-alive.
void append_comment(std::string& out, std::string_view text);

}  // namespace llmp::sse
