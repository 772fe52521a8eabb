#pragma once
// publish_batch: what the publisher thread writes for one batch of jobs drained from its queue.
// Chunk jobs (`coalesce`) of one stream — same correlation id and routing key — that wait in
// the queue together go out as one message: the first one carries them, with the bodies
// appended in order and the last one's headers (its `seq`). A final or error job of that stream
// (not coalesced) closes the run: no chunk is ever merged past it. A lone chunk goes out as it
// is, so coalescing costs a quiet stream nothing and bounds the message rate of a busy one.
//
// Pure functions on the batch (no I/O, no locks); the publisher thread calls them.

#include "broker/publisher.hpp"

#include <cstddef>
#include <limits>
#include <vector>

namespace llmp::broker {

/// carrier[i] for an entry that is not written (a stop entry, queued_job in publisher.hpp).
inline constexpr std::size_t not_written = std::numeric_limits<std::size_t>::max();

/// Decides, for each entry of `batch`, which entry's message carries it: itself (a message of
/// its own), an earlier chunk of the same stream it is merged into, or not_written. `carrier`
/// is resized to batch.size() (kept as an argument so the thread reuses its buffer).
void plan_batch(const std::vector<queued_job>& batch, std::vector<std::size_t>& carrier);

/// Carries out a plan: appends each merged entry's body to its carrier and gives the carrier
/// its headers. A merged entry's `done`, if it had one, is dropped with it (chunks have none).
void merge_planned(std::vector<queued_job>& batch, const std::vector<std::size_t>& carrier);

}  // namespace llmp::broker
