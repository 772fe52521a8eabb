#pragma once
// time_window: the windows and bucket sizes the endpoints accept ("5m", "1h", "24h"; "10s",
// "1m"), parsed once and passed to the SQL as whole seconds. Pure; any thread.

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace llmp::monitor {

struct duration_arg {
    std::string text;  ///< as given: "5m"
    std::int64_t seconds = 0;
};

/// "<n>s|m|h|d" with 1 <= seconds <= 7 days; fails with "invalid_field".
result<duration_arg> parse_duration(std::string_view text, std::string_view what);
/// Window: 10 s .. 7 days.
result<duration_arg> parse_window(std::string_view text);
/// Bucket: 1 s .. 1 day; at most `max_buckets` buckets per window.
result<duration_arg> parse_bucket(std::string_view text, const duration_arg& window, int max_buckets = 2000);
/// The default bucket for a window: ~10..300 points (5m -> 10s, 1h -> 1m, 24h -> 10m, 7d -> 1h).
duration_arg default_bucket(const duration_arg& window);

}  // namespace llmp::monitor
