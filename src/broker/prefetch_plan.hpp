#pragma once
// prefetch_plan: which of a batch's prefetch changes the consumer thread sends.
//
// A worker with a prefetch headroom asks for a basic.qos when a generation ends (one more) and
// before each ack (one fewer): two frames per request, each a limiter update in the broker's
// channel. The consumer thread carries its commands out in batches, and within one batch only
// two values matter:
// - up to the batch's last settle (ack or reject), a prefetch no higher than any asked for
//   before it. Lower is safe: a settle then never makes room for a delivery the worker did not
//   ask for (the worker's reason to lower before the ack);
// - after it, the last value asked for, which is what the worker wants from then on.
// Either is skipped when the broker already has that value.
//
// A pure function on the batch's shape (no I/O); the consumer thread calls it.

#include <cstdint>
#include <optional>
#include <vector>

namespace llmp::broker {

/// What a command of the batch is, as far as the prefetch is concerned.
struct prefetch_step {
    enum class kind { settle, prefetch, other } what = kind::other;
    std::uint16_t count = 0;  ///< kind::prefetch: the prefetch asked for
};

/// For each step of the batch, the prefetch to send once that step is carried out (nullopt:
/// none); the batch's own prefetch steps are not sent as they are. `in_effect` is the broker's
/// prefetch before the batch (nullopt: unknown) and is set to the value after it.
std::vector<std::optional<std::uint16_t>> plan_prefetch(const std::vector<prefetch_step>& steps,
                                                        std::optional<std::uint16_t>& in_effect);

}  // namespace llmp::broker
