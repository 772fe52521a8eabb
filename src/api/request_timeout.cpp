#include "api/request_timeout.hpp"

#include <charconv>
#include <string>

namespace llmp::api {
namespace {

/// The whole of `s` as a decimal integer (from_chars: no sign but '-', no spaces, no
/// overflow: out of range is nullopt).
std::optional<std::int64_t> decimal(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

result<std::int64_t> request_timeout_ms(std::int64_t body_timeout_ms, std::optional<std::string_view> header,
                                        std::int64_t default_ms, std::int64_t max_ms) {
    const auto range = " from 1 to " + std::to_string(max_ms) + " (milliseconds; this server's maximum)";
    std::int64_t timeout = default_ms;
    if (header) {
        auto v = decimal(*header);
        if (!v || *v < 1 || *v > max_ms) {
            return fail("invalid_field", "X-Request-Timeout-Ms must be an integer" + range);
        }
        timeout = *v;
    }
    if (body_timeout_ms > 0) {
        if (body_timeout_ms > max_ms) {
            return fail("invalid_field", "timeout_ms must be an integer" + range);
        }
        timeout = body_timeout_ms;
    }
    return timeout;
}

result<std::optional<int>> header_priority(std::optional<std::string_view> header) {
    if (!header) {
        return std::optional<int>{};
    }
    auto v = decimal(*header);
    if (!v || *v < 0 || *v > 9) {
        return fail("invalid_field", "X-Priority must be an integer from 0 to 9");
    }
    return std::optional<int>{static_cast<int>(*v)};
}

}  // namespace llmp::api
