#include "limits/local_store.hpp"

#include <iterator>

namespace llmp::limits {

void local_store::roll(key_state& k, const windows& w, std::int64_t now_ms) {
    if (k.minute != w.minute) {
        k.minute = w.minute;
        k.requests = 0;
        k.tokens = 0;
    }
    if (k.day != w.day) {
        k.day = w.day;
        k.day_tokens = 0;
    }
    if (k.month != w.month) {
        k.month = w.month;
        k.month_tokens = 0;
    }
    for (auto it = k.streams.begin(); it != k.streams.end();) {
        it = it->second <= now_ms ? k.streams.erase(it) : std::next(it);
    }
}

admission local_store::admit(const admit_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    lock_guard lock{mu_};
    auto& k = keys_[a.key_id];
    roll(k, w, a.now_ms);
    counts before{k.requests, k.tokens, static_cast<std::int64_t>(k.streams.size()), k.day_tokens, k.month_tokens};
    admission out;
    out.refused = first_reached(before, a.limits);
    if (out.refused == limit_kind::none) {
        ++k.requests;
        if (a.limits.max_streams) {
            k.streams[a.request_id] = a.lease_until_ms;
        }
    }
    out.now = counts{k.requests, k.tokens, static_cast<std::int64_t>(k.streams.size()), k.day_tokens, k.month_tokens};
    return out;
}

void local_store::finish(const finish_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    lock_guard lock{mu_};
    auto& k = keys_[a.key_id];
    roll(k, w, a.now_ms);
    k.streams.erase(a.request_id);
    k.tokens += a.tokens;
    k.day_tokens += a.tokens;
    k.month_tokens += a.tokens;
}

}  // namespace llmp::limits
