#include "limits/limiter.hpp"

#include "common/ids.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace llmp::limits {

limiter::limiter(limiter_config cfg, shared_store* shared, clock_fn now_ms)
    : cfg_{cfg}, shared_{shared}, now_ms_{std::move(now_ms)}, instance_{new_uuid()} {}

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
    if (l.max_streams && !cfg_.lease_streams) {
        return 0;  // each stream is an entry of its own in the store (its id, released at finish)
    }
    if (!l.requests_per_minute) {
        return cfg_.max_lease;
    }
    const auto share = *l.requests_per_minute / std::max<std::int64_t>(cfg_.lease_divisor, 1);
    return std::min(std::max(share, cfg_.min_lease), *l.requests_per_minute);
}

bool limiter::counts_requests(const keys::key_limits& l) {
    return l.requests_per_minute || l.tokens_per_minute || l.tokens_per_day || l.tokens_per_month;
}

void limiter::admit(admit_args a, std::function<void(limit_decision)> done) {
    if (shared_ == nullptr || !shared_->up()) {
        done(decided(a, local_.admit(a), false));
        return;
    }
    if (lease_cap(a.limits) >= 1) {
        if (a.limits.max_streams) {
            admit_stream(std::move(a), std::move(done));
        } else {
            admit_leased(std::move(a), std::move(done));
        }
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
    const bool ahead = l.next_minute == w.minute;  // reserved in the last window for this one
    l.minute = w.minute;
    l.day = w.day;
    l.month = w.month;
    l.credit = ahead ? l.next_credit : 0;
    l.known = ahead;
    l.seen = kept;
    if (ahead) {
        l.seen.requests = l.next_seen.requests;
        l.seen.tokens = l.next_seen.tokens;
        l.seen.day_tokens = std::max(kept.day_tokens, l.next_seen.day_tokens);
        l.seen.month_tokens = std::max(kept.month_tokens, l.next_seen.month_tokens);
    }
    l.next_minute = -1;
    l.next_credit = 0;
    l.next_seen = {};
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

std::optional<reserve_args> limiter::next_window(lease& l, const admit_args& a) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    const auto prefetch = std::min(cfg_.prefetch.count(), a.window_ms / 2);
    if (l.prefetching || l.next_minute == w.minute + 1 || w.minute_reset_ms > prefetch) {
        return std::nullopt;  // not yet, or on its way
    }
    if (const auto k = l.known ? first_reached(l.seen, a.limits) : limit_kind::none;
        k == limit_kind::daily_tokens || k == limit_kind::monthly_tokens) {
        return std::nullopt;  // refused for longer than this minute
    }
    reserve_args r;
    r.key_id = a.key_id;
    r.limits = a.limits;
    r.want = l.batch;
    r.now_ms = (w.minute + 1) * a.window_ms;  // the next window's first moment
    r.window_ms = a.window_ms;
    l.prefetching = true;
    return r;
}

void limiter::ask(reserve_args r, bool ahead) {
    auto args = std::make_shared<reserve_args>(r);
    shared_->reserve(std::move(r), [this, args, ahead](result<grant> g) { reserved(*args, std::move(g), ahead); });
}

void limiter::admit_leased(admit_args a, done_fn done) {
    const auto w = windows_at(a.now_ms, a.window_ms);
    std::optional<admission> got;
    std::optional<reserve_args> refill;
    std::optional<reserve_args> ahead;
    {
        lock_guard lock{lease_mu_};
        auto& l = leases_[a.key_id];
        roll(l, w);
        got = from_lease(l, a);
        if (!got) {
            l.waiting.push_back({a, std::move(done)});
        } else {
            ahead = next_window(l, a);
        }
        refill = next_reservation(l, a.key_id, a.limits);
    }
    if (refill) {
        ask(std::move(*refill));
    }
    if (ahead) {
        ask(std::move(*ahead), true);
    }
    if (got) {
        done(decided(a, *got, true, true));
    }
}

// On the store's thread (or inline in ask() when the store refuses at once).
void limiter::reserved(const reserve_args& r, result<grant> g, bool ahead) {
    std::vector<std::pair<waiter, admission>> served;
    std::deque<waiter> unserved;  // the store failed: counted here instead
    std::optional<reserve_args> refill;
    {
        lock_guard lock{lease_mu_};
        auto& l = leases_[r.key_id];
        (ahead ? l.prefetching : l.reserving) = false;
        if (!g && ahead) {
            // Nothing lost: the next window reserves when it starts.
        } else if (!g) {
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
            const bool ran_dry =
                !ahead && l.known && (!l.waiting.empty() || now - l.reserved_at_ms < cfg_.lease_horizon.count());
            if (!ahead) {
                l.reserved_at_ms = now;
            }
            const auto w = windows_at(r.now_ms, r.window_ms);
            if (w.minute == l.minute + 1) {
                // Ahead, for the window after this one: adopted when it starts (roll).
                l.next_minute = w.minute;
                l.next_credit += got.granted;
                l.next_seen.requests = std::max(l.next_seen.requests, got.now.requests);
                l.next_seen.tokens = std::max(l.next_seen.tokens, got.now.tokens);
                l.next_seen.day_tokens = std::max(l.next_seen.day_tokens, got.now.day_tokens);
                l.next_seen.month_tokens = std::max(l.next_seen.month_tokens, got.now.month_tokens);
            } else if (w.minute == l.minute && w.day == l.day && w.month == l.month) {
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
            if (!ahead && (ran_dry || !l.waiting.empty())) {
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

// ---- stream slots ----

void limiter::forget(slot_pool& p) {
    // Streams in flight that held them finish as no-ops (their generation is stale).
    p.held.clear();
    p.in_use = 0;
    ++p.generation;
}

std::optional<slot_args> limiter::next_slots(slot_pool& p, const std::string& key_id, std::int64_t now) {
    if (p.reserving) {
        return std::nullopt;
    }
    const auto held = static_cast<std::int64_t>(p.held.size());
    const auto free = held - p.in_use;
    // Headroom only while the store has room: asking a full store on every stream would be a
    // round trip per request again (off the path, but a wake of the store thread each).
    // Asked for when the last free one is taken; kept up to twice that (give_back): a client
    // that opens a stream as soon as its last ended moves no slot in or out of Redis.
    const auto ahead = free <= 0 && now >= p.full_until_ms ? p.headroom : 0;
    auto want = static_cast<std::int64_t>(p.waiting.size()) + ahead;
    want = std::min(want, p.cap - held);
    if (want <= 0) {
        return std::nullopt;  // nothing wanted, or this server holds the whole cap already
    }
    slot_args s;
    s.key_id = key_id;
    s.cap = p.cap;
    s.now_ms = now;
    s.until_ms = now + cfg_.slot_ttl.count();
    for (std::int64_t i = 0; i < want; ++i) {
        s.names.push_back(instance_ + ':' + std::to_string(next_slot_++));
    }
    p.reserving = true;
    return s;
}

void limiter::admit_stream(admit_args a, done_fn done) {
    std::optional<std::uint64_t> gen;
    std::optional<slot_args> ask;
    std::optional<std::int64_t> full;  // this server holds the whole cap, all in use: refused
    {
        lock_guard lock{lease_mu_};
        auto& p = pools_[a.key_id];
        p.cap = *a.limits.max_streams;
        if (p.in_use < static_cast<std::int64_t>(p.held.size()) && p.in_use < p.cap) {
            ++p.in_use;
            p.last_used_ms = a.now_ms;
            gen = p.generation;
        } else {
            p.waiting.push_back({a, std::move(done)});
        }
        ask = next_slots(p, a.key_id, a.now_ms);
        if (!gen && !ask && !p.reserving) {
            done = std::move(p.waiting.back().done);
            p.waiting.pop_back();
            full = p.in_use;
        }
    }
    if (full) {
        admission no;
        no.refused = limit_kind::streams;
        no.now.streams = *full;
        done(decided(a, no, true));
        return;
    }
    if (ask) {
        auto asked = std::make_shared<slot_args>(*ask);
        shared_->reserve_slots(std::move(*ask), [this, asked](result<slot_grant> g) {
            slots_reserved(asked->key_id, *asked, std::move(g));
        });
    }
    if (gen) {
        ++stats_.slot_admissions;
        admit_with_slot(std::move(a), *gen, std::move(done));
    }
}

void limiter::admit_with_slot(admit_args a, std::uint64_t gen, done_fn done) {
    const auto key_id = a.key_id;
    auto with_slot = [this, key_id, gen, done = std::move(done)](limit_decision d) {
        if (d.refused != limit_kind::none) {
            // Refused by another limit: the slot is free again.
            if (auto release = give_back(key_id, gen, now_ms_())) {
                shared_->release_slots(std::move(*release));
            }
        } else {
            d.slot = true;
            d.slot_generation = gen;
        }
        done(d);
    };
    if (counts_requests(a.limits)) {
        admit_leased(std::move(a), std::move(with_slot));
        return;
    }
    admission got;
    {
        lock_guard lock{lease_mu_};
        got.now.streams = pools_[key_id].in_use;  // this server's part of the fleet's streams
    }
    with_slot(decided(a, got, true, true));
}

// On the store's thread (or inline when the store refuses at once).
void limiter::slots_reserved(const std::string& key_id, const slot_args& asked, result<slot_grant> g) {
    std::vector<std::pair<waiter, std::uint64_t>> served;
    std::vector<std::pair<waiter, std::int64_t>> refused;  // with the fleet's streams in flight
    std::deque<waiter> unserved;
    std::optional<slot_args> again;
    {
        lock_guard lock{lease_mu_};
        auto& p = pools_[key_id];
        p.reserving = false;
        ++stats_.slot_reservations;
        if (!g) {
            forget(p);
            unserved.swap(p.waiting);
        } else {
            const auto granted = std::min<std::int64_t>(g.value().granted, std::ssize(asked.names));
            p.held.insert(p.held.end(), asked.names.begin(), asked.names.begin() + granted);
            p.renewed_ms = asked.now_ms;
            const auto now = now_ms_();
            if (granted < std::ssize(asked.names)) {
                p.full_until_ms = now + cfg_.slot_linger.count();
            }
            if (!p.waiting.empty()) {
                // Streams had to wait: keep more free ahead of them, up to a quarter of the cap.
                p.headroom = std::min({p.headroom * 2, cfg_.max_slot_headroom, std::max<std::int64_t>(p.cap / 4, 1)});
            }
            while (!p.waiting.empty() && p.in_use < std::ssize(p.held) && p.in_use < p.cap) {
                ++p.in_use;
                p.last_used_ms = now;
                served.emplace_back(std::move(p.waiting.front()), p.generation);
                p.waiting.pop_front();
            }
            if (granted < std::ssize(asked.names)) {
                // The fleet holds the whole cap: whoever still waits is refused (Retry-After 1 s).
                for (auto& w : p.waiting) {
                    refused.emplace_back(std::move(w), g.value().in_flight);
                }
                p.waiting.clear();
            } else if (!p.waiting.empty()) {
                again = next_slots(p, key_id, now);  // came while it was on its way
                if (!again) {
                    // This server holds the whole cap, all in use.
                    for (auto& w : p.waiting) {
                        refused.emplace_back(std::move(w), p.in_use);
                    }
                    p.waiting.clear();
                }
            }
        }
    }
    if (again) {
        auto next = std::make_shared<slot_args>(*again);
        shared_->reserve_slots(std::move(*again), [this, next](result<slot_grant> g2) {
            slots_reserved(next->key_id, *next, std::move(g2));
        });
    }
    for (auto& [w, gen] : served) {
        ++stats_.slot_admissions;
        admit_with_slot(std::move(w.a), gen, std::move(w.done));
    }
    for (auto& [w, in_flight] : refused) {
        admission no;
        no.refused = limit_kind::streams;
        no.now.streams = in_flight;
        w.done(decided(w.a, no, true));
    }
    for (auto& w : unserved) {
        w.done(decided(w.a, local_.admit(w.a), false));
    }
}

std::optional<slot_args> limiter::give_back(const std::string& key_id, std::uint64_t gen, std::int64_t now) {
    lock_guard lock{lease_mu_};
    auto it = pools_.find(key_id);
    if (it == pools_.end() || it->second.generation != gen || it->second.in_use == 0) {
        return std::nullopt;  // forgotten meanwhile (the store failed): nothing held to give back
    }
    auto& p = it->second;
    --p.in_use;
    p.last_used_ms = now;
    // Free slots beyond twice the headroom (and any over a lowered cap) go back at once.
    const auto keep = std::min(p.in_use + 2 * p.headroom, p.cap);
    if (std::ssize(p.held) <= keep) {
        return std::nullopt;
    }
    slot_args s;
    s.key_id = key_id;
    s.cap = p.cap;
    s.now_ms = now;
    s.names.assign(p.held.begin() + keep, p.held.end());
    p.held.resize(static_cast<std::size_t>(keep));
    return s;
}

void limiter::tick() {
    if (shared_ == nullptr) {
        return;
    }
    const auto now = now_ms_();
    std::vector<slot_args> releases;
    std::vector<std::pair<slot_args, std::uint64_t>> renewals;
    {
        lock_guard lock{lease_mu_};
        for (auto it = pools_.begin(); it != pools_.end();) {
            auto& p = it->second;
            if (p.in_use < std::ssize(p.held) && now - p.last_used_ms >= cfg_.slot_linger.count()) {
                slot_args s;
                s.key_id = it->first;
                s.cap = p.cap;
                s.now_ms = now;
                s.names.assign(p.held.begin() + p.in_use, p.held.end());
                p.held.resize(static_cast<std::size_t>(p.in_use));
                releases.push_back(std::move(s));
            }
            if (!p.held.empty() && now - p.renewed_ms >= cfg_.slot_ttl.count() / 3) {
                slot_args s;
                s.key_id = it->first;
                s.cap = p.cap;
                s.now_ms = now;
                s.until_ms = now + cfg_.slot_ttl.count();
                s.names = p.held;
                p.renewed_ms = now;
                renewals.emplace_back(std::move(s), p.generation);
            }
            if (p.held.empty() && p.in_use == 0 && p.waiting.empty() && !p.reserving) {
                it = pools_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& s : releases) {
        shared_->release_slots(std::move(s));
    }
    for (auto& [s, gen] : renewals) {
        const auto held = std::ssize(s.names);
        auto key_id = s.key_id;
        shared_->renew_slots(std::move(s), [this, key_id = std::move(key_id), gen = gen, held](result<slot_grant> g) {
            if (g && g.value().granted == held) {
                return;
            }
            // Some expired (or Redis lost them): what this server holds is no longer known to
            // be counted. Start over; the streams in flight finish as no-ops.
            lock_guard lock{lease_mu_};
            if (auto it = pools_.find(key_id); it != pools_.end() && it->second.generation == gen) {
                forget(it->second);
            }
        });
    }
}

std::int64_t limiter::held_slots_for_test(const std::string& key_id) {
    lock_guard lock{lease_mu_};
    auto it = pools_.find(key_id);
    return it == pools_.end() ? 0 : std::ssize(it->second.held);
}

void limiter::finish(const limit_decision& d, const std::string& key_id, const std::string& request_id,
                     std::int64_t tokens) {
    finish_args f;
    f.key_id = key_id;
    f.request_id = request_id;
    f.tokens = tokens;
    f.now_ms = now_ms_();
    f.window_ms = cfg_.window.count();
    if (d.slot) {
        if (auto release = give_back(key_id, d.slot_generation, f.now_ms); release && shared_ != nullptr) {
            shared_->release_slots(std::move(*release));
        }
    }
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
