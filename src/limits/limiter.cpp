#include "limits/limiter.hpp"

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

limit_decision limiter::decided(const admit_args& a, const admission& got, bool shared) {
    limit_decision d;
    d.refused = got.refused;
    d.now = got.now;
    d.w = windows_at(a.now_ms, a.window_ms);
    d.shared = shared;
    if (got.refused != limit_kind::none) {
        ++stats_.refused[static_cast<std::size_t>(got.refused)];
    }
    ++(shared ? stats_.shared_admissions : stats_.local_admissions);
    return d;
}

void limiter::admit(admit_args a, std::function<void(limit_decision)> done) {
    if (shared_ == nullptr || !shared_->up()) {
        done(decided(a, local_.admit(a), false));
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

void limiter::finish(const limit_decision& d, const std::string& key_id, const std::string& request_id,
                     std::int64_t tokens) {
    finish_args f;
    f.key_id = key_id;
    f.request_id = request_id;
    f.tokens = tokens;
    f.now_ms = now_ms_();
    f.window_ms = cfg_.window.count();
    if (d.shared && shared_ != nullptr && shared_->finish(f)) {
        return;
    }
    local_.finish(f);
}

}  // namespace llmp::limits
