#include "limits/limiter.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace llmp::limits {

limiter::limiter(limiter_config cfg, shared_store* shared, clock_fn now_ms)
    : cfg_{cfg}, shared_{shared}, now_ms_{std::move(now_ms)} {}

admit_args limiter::args_of(const keys::usable_key& key, std::string request_id, std::int64_t lease_until_ms) const {
    admit_args a;
    a.key_id = key.id;
    a.limits = key.limits;
    a.request_id = std::move(request_id);
    a.now_ms = now_ms_();
    a.lease_until_ms = lease_until_ms;
    a.window_ms = cfg_.window.count();
    return a;
}

limit_decision limiter::decided(const admit_args& a, const admission& got, bool shared, bool leased) {
    limit_decision d;
    d.refused = got.refused;
    d.now = got.now;
    d.w = windows_at(a.now_ms, a.window_ms);
    d.shared = shared;
    d.leased = leased;
    if (got.refused != limit_kind::none) {
        ++stats_.refused[static_cast<std::size_t>(got.refused)];
    }
    ++(shared ? stats_.shared_admissions : stats_.local_admissions);
    if (leased) {
        ++stats_.leased_admissions;
    }
    return d;
}

std::int64_t limiter::lease_cap(const keys::key_limits& l) const {
    if (l.max_streams) {
        return 0;  // each stream is an entry of its own in the store (its id, released at finish)
    }
    return l.requests_per_minute ? *l.requests_per_minute / std::max<std::int64_t>(cfg_.lease_divisor, 1)
                                 : cfg_.max_lease;
}

void limiter::admit(admit_args a, std::function<void(limit_decision)> done) {
    if (shared_ == nullptr || !shared_->up()) {
        done(decided(a, local_.admit(a), false));
        return;
    }
    if (lease_cap(a.limits) >= 1) {
        admit_leased(std::move(a), std::move(done));
        return;
    }
    auto args = std::make_shared<admit_args>(a);
    shared_->admit(std::move(a), [this, args, done = std::move(done)](result<admission> got) {
        if (got) {
            done(decided(*args, got.value(), true));
            return;
        }
        // Redis failed this one: count it here (the store has logged why, once).
        done(decided(*args, local_.admit(*args), false));
    });
}

// A new window starts with nothing in hand: what the last one reserved and did not use is
// counted there and expires with it.
void limiter::roll(lease& l, const windows& w) {
    if (l.minute == w.minute && l.day == w.day && l.month == w.month) {
        return;
    }
    if (l.credit > 0 && l.batch > 1) {
        l.batch /= 2;  // it reserved more than the window used
    }
    // The day's and month's tokens carry over while their window lasts: they are lower bounds the
    // store may not have yet (this server's charges reach it merged, later), and a reservation
    // that read the store just after the minute turned must not forget them.
    counts kept;
    if (l.day == w.day) {
        kept.day_tokens = l.seen.day_tokens;
    }
    if (l.month == w.month) {
        kept.month_tokens = l.seen.month_tokens;
    }
    l.minute = w.minute;
    l.day = w.day;
    l.month = w.month;
    l.credit = 0;
    l.known = false;
    l.seen = kept;
}

std::optional<admission> limiter::from_lease(lease& l, const admit_args& a) {
    if (!l.known) {
        return std::nullopt;
    }
    admission out;
    out.now = l.seen;
    if (l.credit > 0) {
        // Its request is reserved; the token limits are checked on what is known (a lower
        // bound: tokens only grow within a window).
        auto tokens_only = a.limits;
        tokens_only.requests_per_minute.reset();
        out.refused = first_reached(l.seen, tokens_only);
        if (out.refused == limit_kind::none) {
            --l.credit;
        }
        out.now.requests = l.seen.requests - l.credit;  // counted in the store, less what is still in hand
        return out;
    }
    // Nothing in hand: a limit the store said was reached stays reached for this window.
    out.refused = first_reached(l.seen, a.limits);
    if (out.refused != limit_kind::none) {
        return out;
    }
    return std::nullopt;
}

std::optional<reserve_args> limiter::next_reservation(lease& l, const std::string& key_id,
                                                      const keys::key_limits& limits) {
    if (l.reserving) {
        return std::nullopt;
    }
    // Refill when half the batch is gone (for a batch of 1: when it is used), so the next
    // request finds one in hand; not when the store has said a limit is reached.
    const bool low = l.credit <= l.batch / 2 && !(l.known && first_reached(l.seen, limits) != limit_kind::none);
    if (l.waiting.empty() && !low) {
        return std::nullopt;
    }
    reserve_args r;
    r.key_id = key_id;
    r.limits = limits;
    r.want = l.batch + static_cast<std::int64_t>(l.waiting.size());
    r.now_ms = now_ms_();
    r.window_ms = cfg_.window.count();
    l.reserving = true;
    return r;
}

void limiter::ask(reserve_args r) {
    auto args = std::make_shared<reserve_args>(r);
    shared_->reserve(std::move(r), [this, args](result<grant> g) { reserved(*args, std::move(g)); });
}

void limiter::admit_leased(admit_args a, done_fn done) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    std::optional<admission> got;
    std::optional<reserve_args> refill;
    {
        lock_guard lock{lease_mu_};
        auto& l = leases_[a.key_id];
        roll(l, w);
        got = from_lease(l, a);
        if (!got) {
            l.waiting.push_back({a, std::move(done)});
        }
        refill = next_reservation(l, a.key_id, a.limits);
    }
    if (refill) {
        ask(std::move(*refill));
    }
    if (got) {
        done(decided(a, *got, true, true));
    }
}

// On the store's thread (or inline in ask() when the store refuses at once).
void limiter::reserved(const reserve_args& r, result<grant> g) {
    std::vector<std::pair<waiter, admission>> served;
    std::deque<waiter> unserved;  // the store failed: counted here instead
    std::optional<reserve_args> refill;
    {
        lock_guard lock{lease_mu_};
        auto& l = leases_[r.key_id];
        l.reserving = false;
        if (!g) {
            l.credit = 0;
            l.known = false;
            unserved.swap(l.waiting);
        } else {
            ++stats_.reservations;
            const auto& got = g.value();
            roll(l, windows_at(now_ms_(), r.window_ms));
            // Requests waited although a lease was running, or the last one lasted less than
            // lease_horizon: the batch is small for the key's pace.
            const auto now = now_ms_();
            const bool ran_dry = l.known && (!l.waiting.empty() || now - l.reserved_at_ms < cfg_.lease_horizon.count());
            l.reserved_at_ms = now;
            const auto w = windows_at(r.now_ms, r.window_ms);
            if (w.minute == l.minute && w.day == l.day && w.month == l.month) {
                l.credit += got.granted;
                // Both are lower bounds of the window's counts (they only grow); the store may not
                // have this server's last charges yet, what is seen here may miss other servers'.
                l.seen.requests = std::max(l.seen.requests, got.now.requests);
                l.seen.tokens = std::max(l.seen.tokens, got.now.tokens);
                l.seen.streams = got.now.streams;
                l.seen.day_tokens = std::max(l.seen.day_tokens, got.now.day_tokens);
                l.seen.month_tokens = std::max(l.seen.month_tokens, got.now.month_tokens);
                l.known = true;
            }  // else granted for a window that has ended: nothing of it is usable
            while (!l.waiting.empty()) {
                auto decision = from_lease(l, l.waiting.front().a);
                if (!decision) {
                    break;  // more waited than were asked for: the next reservation is for them
                }
                served.emplace_back(std::move(l.waiting.front()), *decision);
                l.waiting.pop_front();
            }
            // Too small for the key's pace: it ran dry, or more came than it asked for.
            if (ran_dry || !l.waiting.empty()) {
                l.batch = std::min(l.batch * 2, std::max<std::int64_t>(lease_cap(r.limits), 1));
            }
            const auto& limits = l.waiting.empty() ? r.limits : l.waiting.front().a.limits;
            refill = next_reservation(l, r.key_id, limits);
        }
    }
    if (refill) {
        ask(std::move(*refill));
    }
    for (auto& [w, decision] : served) {
        w.done(decided(w.a, decision, true, true));
    }
    for (auto& w : unserved) {
        w.done(decided(w.a, local_.admit(w.a), false));
    }
}

void limiter::finish(const limit_decision& d, const std::string& key_id, const std::string& request_id,
                     std::int64_t tokens) {
    finish_args f;
    f.key_id = key_id;
    f.request_id = request_id;
    f.tokens = tokens;
    f.now_ms = now_ms_();
    f.window_ms = cfg_.window.count();
    if (d.leased) {
        // No stream to release: only tokens, seen by this server's next admission at once and
        // charged in the store soon (merged with the key's other charges).
        if (tokens <= 0) {
            return;
        }
        {
            const auto w = windows_at(f.now_ms, f.window_ms);
            lock_guard lock{lease_mu_};
            if (auto it = leases_.find(key_id); it != leases_.end()) {
                // Counted in the window it ends in, as the store counts it; a minute that turned
                // since the last admission starts here.
                roll(it->second, w);
                it->second.seen.tokens += tokens;
                it->second.seen.day_tokens += tokens;
                it->second.seen.month_tokens += tokens;
            }
        }
        if (shared_ == nullptr || !shared_->charge(f)) {
            local_.finish(f);
        }
        return;
    }
    if (d.shared && shared_ != nullptr && shared_->finish(f)) {
        return;
    }
    local_.finish(f);
}

}  // namespace llmp::limits
