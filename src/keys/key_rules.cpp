#include "keys/key_rules.hpp"

#include "common/errc.hpp"

namespace llmp::keys {

std::optional<std::int64_t> limit_of(const key_limits& l, std::size_t i) {
    switch (i) {
        case 0:
            return l.requests_per_minute;
        case 1:
            return l.tokens_per_minute;
        case 2:
            return l.max_streams;
        case 3:
            return l.tokens_per_day;
        case 4:
            return l.tokens_per_month;
        default:
            return l.priority_ceiling ? std::optional<std::int64_t>{*l.priority_ceiling} : std::nullopt;
    }
}

void set_limit(key_limits& l, std::size_t i, std::optional<std::int64_t> v) {
    switch (i) {
        case 0:
            l.requests_per_minute = v;
            break;
        case 1:
            l.tokens_per_minute = v;
            break;
        case 2:
            l.max_streams = v;
            break;
        case 3:
            l.tokens_per_day = v;
            break;
        case 4:
            l.tokens_per_month = v;
            break;
        default:
            l.priority_ceiling = v ? std::optional<int>{static_cast<int>(*v)} : std::nullopt;
            break;
    }
}

std::optional<std::optional<std::int64_t>>& limit_change_of(key_limits_change& c, std::size_t i) {
    std::optional<std::optional<std::int64_t>>* slots[] = {&c.requests_per_minute, &c.tokens_per_minute,
                                                           &c.max_streams,         &c.tokens_per_day,
                                                           &c.tokens_per_month,    &c.priority_ceiling};
    return *slots[i < std::size(slots) ? i : std::size(slots) - 1];
}

result<void> check_limit(std::size_t i, std::int64_t v) {
    const auto& r = limit_rules[i];
    if (v < r.lo || v > r.hi) {
        return fail(errc::invalid_field, std::string{r.field} + " must be a whole number from " + std::to_string(r.lo) +
                                             " to " + std::to_string(r.hi) + " (got " + std::to_string(v) + ")");
    }
    return ok();
}

result<void> check_expires_in_days(std::int64_t days) {
    if (days < 1 || days > max_expires_in_days) {
        return fail(errc::invalid_field,
                    "expires_in_days must be a whole number from 1 to " + std::to_string(max_expires_in_days));
    }
    return ok();
}

result<key_role> check_role(std::string_view name) {
    if (auto r = parse_role(name)) {
        return *r;
    }
    return fail(errc::invalid_field, "role must be user, viewer or admin");
}

result<void> check_models(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
        if (p.empty()) {
            return fail(errc::invalid_field, "models must be non-empty glob patterns");
        }
    }
    return ok();
}

result<void> check_spec(const key_spec& spec) {
    if (spec.name.empty() || spec.name.find('/') != std::string::npos) {
        return fail(errc::invalid_field, "a key's name must be non-empty and without '/'");
    }
    if (auto m = check_models(spec.allowed_models); !m) {
        return m;
    }
    if (spec.expires_in_days) {
        if (auto e = check_expires_in_days(*spec.expires_in_days); !e) {
            return e;
        }
    }
    for (std::size_t i = 0; i < limit_rules.size(); ++i) {
        if (auto v = limit_of(spec.limits, i)) {
            if (auto c = check_limit(i, *v); !c) {
                return c;
            }
        }
    }
    return ok();
}

result<void> check_change(const key_change& change) {
    if (change.allowed_models) {
        if (auto m = check_models(*change.allowed_models); !m) {
            return m;
        }
    }
    if (change.expires_in_days && *change.expires_in_days) {
        if (auto e = check_expires_in_days(**change.expires_in_days); !e) {
            return e;
        }
    }
    auto limits = change.limits;
    for (std::size_t i = 0; i < limit_rules.size(); ++i) {
        const auto& slot = limit_change_of(limits, i);
        if (slot && *slot) {
            if (auto c = check_limit(i, **slot); !c) {
                return c;
            }
        }
    }
    return ok();
}

}  // namespace llmp::keys
