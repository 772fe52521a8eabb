#pragma once
// resume_merge: the chunks a resumed stream of a background generation renders, in order, each
// once, from two sources (docs/architecture.md, "Background mode and resumable streams"):
//   stored  what the audit wrote to response_chunks, read in seq order: every chunk from seq 1
//           up to where the audit's batches have got (behind the live ones, or ahead of them);
//   live    what reaches this server since it bound the generation's keys: every chunk from
//           the first one after the bind, in order.
// A chunk carries the seq of its last token (a multiplexed frame may hold several), so a
// duplicate is a seq not above the last one taken. A gap cannot be seen from one live chunk:
// the stored run and the live run are known to join only when a live chunk is one the store
// gave already (or is seq 1: nothing precedes it). Until then the live chunks wait and the
// caller reads the store again (needs_store()); after that the live run goes on alone.
//
// And render_events_after: the rendered stream's events after sequence number N (the Responses
// API's starting_after), given that the renderer numbers its events from 0 in order; and
// render_events_with_id_after: those whose SSE id is above N (the native Last-Event-ID).
// Pure logic, one stream's strand.

#include "api/responses_queries.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::api {

class resume_merge {
public:
    /// Stored chunks (seq ascending, as read): appends those after the last taken to `out`.
    void take_stored(const std::vector<stored_chunk>& rows, std::vector<stored_chunk>& out);
    /// A live chunk, held until it can be placed.
    void live(stored_chunk c);
    /// Appends the live chunks that can be placed now to `out`, in order, dropping duplicates.
    void take_live(std::vector<stored_chunk>& out);
    /// Live chunks are held because chunks may be missing before them: read the store again.
    bool needs_store() const { return !joined_ && !pending_.empty(); }
    /// The live run continues what was taken: every later chunk comes live.
    bool joined() const { return joined_; }
    std::int64_t last_seq() const { return last_; }

private:
    std::int64_t last_ = 0;
    bool joined_ = false;
    std::deque<stored_chunk> pending_;
};

/// Appends to `out` the events of `rendered` (SSE: each event ends with a blank line; comment
/// lines, the keep-alives, are not events) whose number, counted from `next_index` on, is above
/// `after`; advances `next_index` past them. A partial event at the end is not expected (the
/// renderers write whole events).
void render_events_after(std::string_view rendered, std::int64_t& next_index, std::int64_t after, std::string& out);

/// Appends to `out` the events of `rendered` whose SSE `id:` is above `after` (the native
/// stream's Last-Event-ID); events without an id (the start, keep-alives) are not written.
void render_events_with_id_after(std::string_view rendered, std::int64_t after, std::string& out);

}  // namespace llmp::api
