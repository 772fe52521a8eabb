#include "monitor/time_window.hpp"

#include <charconv>

namespace llmp::monitor {

result<duration_arg> parse_duration(std::string_view text, std::string_view what) {
    auto bad = [&] {
        return fail("invalid_field",
                    std::string{what} + " must look like 10s, 5m, 1h or 1d (got \"" + std::string{text} + "\")");
    };
    if (text.size() < 2) {
        return bad();
    }
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
    if (ec != std::errc{} || end != text.data() + text.size() - 1 || n <= 0) {
        return bad();
    }
    std::int64_t unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return bad();
    }
    if (n > 7 * 86400 / unit) {
        return fail("invalid_field", std::string{what} + " may be at most 7 days");
    }
    return duration_arg{std::string{text}, n * unit};
}

result<duration_arg> parse_window(std::string_view text) {
    auto d = parse_duration(text, "window");
    if (d && d.value().seconds < 10) {
        return fail("invalid_field", "window must be at least 10s");
    }
    return d;
}

result<duration_arg> parse_bucket(std::string_view text, const duration_arg& window, int max_buckets) {
    auto d = parse_duration(text, "bucket");
    if (!d) {
        return d;
    }
    if (d.value().seconds > 86400) {
        return fail("invalid_field", "bucket may be at most 1d");
    }
    if (window.seconds / d.value().seconds > max_buckets) {
        return fail("invalid_field", "bucket " + d.value().text + " gives more than " + std::to_string(max_buckets) +
                                         " buckets over " + window.text + "; use a larger bucket");
    }
    return d;
}

duration_arg default_bucket(const duration_arg& window) {
    if (window.seconds <= 15 * 60) {
        return {"10s", 10};
    }
    if (window.seconds <= 6 * 3600) {
        return {"1m", 60};
    }
    if (window.seconds <= 86400) {
        return {"10m", 600};
    }
    // Whole hours: the timeseries then reads the rollups' hour rows, not every minute row of
    // the week (issue 19: 7 d from minute rows took 5 s at 1 M requests).
    return {"1h", 3600};
}

}  // namespace llmp::monitor
