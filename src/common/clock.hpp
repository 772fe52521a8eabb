#pragma once
// Time helpers. Wall-clock milliseconds travel in messages (they are compared across hosts);
// durations inside one process use steady_clock.

#include <chrono>
#include <cstdint>

namespace llmp {

using steady = std::chrono::steady_clock;

/// Milliseconds since the Unix epoch (wall clock).
inline std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Microseconds elapsed since `t0` on the steady clock, as a double in milliseconds.
inline double ms_since(steady::time_point t0) {
    return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

}  // namespace llmp
