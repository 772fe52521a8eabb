#pragma once
// usage: the arithmetic of per-key limits (issue 14 item 3), shared by both counter stores
// (local_store in process, redis_store fleet-wide) and the API's replies — which windows a
// moment falls in, which limit a key's counts have reached, and the 429's Retry-After and
// OpenAI's x-ratelimit-* headers.
//
// Windows are fixed: a minute window of `window_ms` (60 000 in production; tests shorten it),
// the UTC calendar day and the UTC calendar month. A fixed window admits at most its limit per
// window, fleet-wide, which is what "60 RPM gets 60 ± 5 %" asks; a burst at a window's edge may
// see up to twice the limit within 60 s, a trade made for one INCR per request instead of a
// sorted set per key.
//
// Threading: pure functions; any thread.

#include "keys/api_key.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::limits {

/// Which limit refused a request (none: admitted). Checked in this order.
enum class limit_kind { none, requests, tokens, streams, daily_tokens, monthly_tokens };
inline constexpr int limit_kind_count = 6;

/// "requests", "tokens", "streams", "daily_tokens", "monthly_tokens" (metrics label).
std::string_view name_of(limit_kind k);

/// Where `now_ms` (Unix ms, UTC) falls: the index of each window and the ms until it ends.
struct windows {
    std::int64_t minute = 0;  ///< now_ms / window_ms
    std::int64_t minute_reset_ms = 0;
    std::int64_t day = 0;  ///< days since the epoch
    std::int64_t day_reset_ms = 0;
    std::int64_t month = 0;  ///< yyyymm
    std::int64_t month_reset_ms = 0;
};
windows windows_at(std::int64_t now_ms, std::int64_t window_ms);

/// One key's counts: requests and tokens in the minute window, requests in flight, tokens of
/// the day and of the month.
struct counts {
    std::int64_t requests = 0;
    std::int64_t tokens = 0;
    std::int64_t streams = 0;
    std::int64_t day_tokens = 0;
    std::int64_t month_tokens = 0;
    friend bool operator==(const counts&, const counts&) = default;
};

/// The first limit `before` (the counts before this request) has reached; none = admit.
/// Tokens are charged when a request ends, so a token limit refuses once the counted tokens
/// reach it: the request that crosses it is admitted (its size is unknown at admission).
limit_kind first_reached(const counts& before, const keys::key_limits& limits);

/// A store's answer to an admission.
struct admission {
    limit_kind refused = limit_kind::none;
    counts now;  ///< after it: requests and streams include this request when it was admitted
};

/// OpenAI's format of a reset: a Go duration at ms precision ("12ms", "1s", "1.5s", "6m0s",
/// "1h2m3s").
std::string go_duration(std::int64_t ms);

/// Seconds a refused client should wait (Retry-After): until the window of the limit that
/// refused it ends, at least 1.
std::int64_t retry_after_s(limit_kind refused, const windows& w);

/// The 429's message: which limit of the key named `key_name` refused, and when it renews.
std::string refusal_message(std::string_view key_name, limit_kind refused, const keys::key_limits& limits,
                            const windows& w);

using header_list = std::vector<std::pair<std::string, std::string>>;

/// OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens} for a key with a requests
/// (tokens) per minute limit, from the counts after its admission; nothing for a limit the key
/// does not have.
header_list rate_headers(const keys::key_limits& limits, const counts& now, const windows& w);

}  // namespace llmp::limits
