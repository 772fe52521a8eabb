#include "limits/usage.hpp"

#include <algorithm>
#include <chrono>

namespace llmp::limits {

std::string_view name_of(limit_kind k) {
    switch (k) {
        case limit_kind::none:
            return "none";
        case limit_kind::requests:
            return "requests";
        case limit_kind::tokens:
            return "tokens";
        case limit_kind::streams:
            return "streams";
        case limit_kind::daily_tokens:
            return "daily_tokens";
        case limit_kind::monthly_tokens:
            return "monthly_tokens";
    }
    return "none";
}

windows windows_at(std::int64_t now_ms, std::int64_t window_ms) {
    using namespace std::chrono;
    constexpr std::int64_t day_ms = 86'400'000;
    windows w;
    w.minute = now_ms / window_ms;
    w.minute_reset_ms = window_ms - now_ms % window_ms;
    w.day = now_ms / day_ms;
    w.day_reset_ms = day_ms - now_ms % day_ms;
    const sys_days today{days{w.day}};
    const year_month_day ymd{today};
    w.month = static_cast<int>(ymd.year()) * 100 + static_cast<int>(static_cast<unsigned>(ymd.month()));
    const sys_days next_month{(ymd.year() / ymd.month() + months{1}) / 1};
    w.month_reset_ms = duration_cast<milliseconds>(next_month.time_since_epoch()).count() - now_ms;
    return w;
}

limit_kind first_reached(const counts& before, const keys::key_limits& l) {
    if (l.requests_per_minute && before.requests >= *l.requests_per_minute) {
        return limit_kind::requests;
    }
    if (l.tokens_per_minute && before.tokens >= *l.tokens_per_minute) {
        return limit_kind::tokens;
    }
    if (l.max_streams && before.streams >= *l.max_streams) {
        return limit_kind::streams;
    }
    if (l.tokens_per_day && before.day_tokens >= *l.tokens_per_day) {
        return limit_kind::daily_tokens;
    }
    if (l.tokens_per_month && before.month_tokens >= *l.tokens_per_month) {
        return limit_kind::monthly_tokens;
    }
    return limit_kind::none;
}

std::string go_duration(std::int64_t ms) {
    ms = std::max<std::int64_t>(ms, 0);
    if (ms < 1000) {
        return std::to_string(ms) + "ms";
    }
    std::string out;
    const auto h = ms / 3'600'000;
    const auto m = ms / 60'000 % 60;
    const auto s = ms / 1000 % 60;
    const auto frac = ms % 1000;
    if (h > 0) {
        out += std::to_string(h) + "h";
    }
    if (h > 0 || m > 0) {
        out += std::to_string(m) + "m";
    }
    out += std::to_string(s);
    if (frac > 0) {  // Go prints the fraction without trailing zeros: 1.5s, 1.05s
        std::string f = std::to_string(1000 + frac).substr(1);
        f.erase(f.find_last_not_of('0') + 1);
        out += "." + f;
    }
    return out + "s";
}

std::int64_t retry_after_s(limit_kind refused, const windows& w) {
    std::int64_t ms = 1000;
    switch (refused) {
        case limit_kind::requests:
        case limit_kind::tokens:
            ms = w.minute_reset_ms;
            break;
        case limit_kind::daily_tokens:
            ms = w.day_reset_ms;
            break;
        case limit_kind::monthly_tokens:
            ms = w.month_reset_ms;
            break;
        case limit_kind::streams:  // a stream may end any moment
        case limit_kind::none:
            break;
    }
    return std::max<std::int64_t>(1, (ms + 999) / 1000);
}

std::string refusal_message(std::string_view key_name, limit_kind refused, const keys::key_limits& l,
                            const windows& w) {
    const std::string who = "the API key '" + std::string{key_name} + "'";
    auto n = [](const std::optional<std::int64_t>& v) { return std::to_string(v.value_or(0)); };
    switch (refused) {
        case limit_kind::requests:
            return who + " is limited to " + n(l.requests_per_minute) + " requests per minute; retry in " +
                   go_duration(w.minute_reset_ms);
        case limit_kind::tokens:
            return who + " is limited to " + n(l.tokens_per_minute) + " tokens per minute; retry in " +
                   go_duration(w.minute_reset_ms);
        case limit_kind::streams:
            return who + " is limited to " + n(l.max_streams) + " requests at once; retry when one ends";
        case limit_kind::daily_tokens:
            return who + " has used its " + n(l.tokens_per_day) + " tokens of today (UTC); they renew in " +
                   go_duration(w.day_reset_ms);
        case limit_kind::monthly_tokens:
            return who + " has used its " + n(l.tokens_per_month) + " tokens of this month (UTC); they renew in " +
                   go_duration(w.month_reset_ms);
        case limit_kind::none:
            break;
    }
    return who + " is over a limit";
}

header_list rate_headers(const keys::key_limits& limits, const counts& now, const windows& w) {
    header_list h;
    if (limits.requests_per_minute) {
        const auto limit = *limits.requests_per_minute;
        h.emplace_back("x-ratelimit-limit-requests", std::to_string(limit));
        h.emplace_back("x-ratelimit-remaining-requests",
                       std::to_string(std::max<std::int64_t>(0, limit - now.requests)));
        h.emplace_back("x-ratelimit-reset-requests", go_duration(w.minute_reset_ms));
    }
    if (limits.tokens_per_minute) {
        const auto limit = *limits.tokens_per_minute;
        h.emplace_back("x-ratelimit-limit-tokens", std::to_string(limit));
        h.emplace_back("x-ratelimit-remaining-tokens", std::to_string(std::max<std::int64_t>(0, limit - now.tokens)));
        h.emplace_back("x-ratelimit-reset-tokens", go_duration(w.minute_reset_ms));
    }
    return h;
}

}  // namespace llmp::limits
