#include "broker/prefetch_plan.hpp"

#include <algorithm>

namespace llmp::broker {

std::vector<std::optional<std::uint16_t>> plan_prefetch(const std::vector<prefetch_step>& steps,
                                                        std::optional<std::uint16_t>& in_effect) {
    using kind = prefetch_step::kind;
    std::vector<std::optional<std::uint16_t>> send(steps.size());
    std::optional<std::size_t> last_settle;
    std::optional<std::size_t> last_prefetch;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].what == kind::settle) {
            last_settle = i;
        } else if (steps[i].what == kind::prefetch) {
            last_prefetch = i;
        }
    }
    if (!last_prefetch) {
        return send;
    }
    // Up to the last settle: the lowest value asked for before it, sent where the first was.
    if (last_settle) {
        std::optional<std::size_t> first;
        std::uint16_t lowest = UINT16_MAX;
        for (std::size_t i = 0; i < *last_settle; ++i) {
            if (steps[i].what == kind::prefetch) {
                first = first.value_or(i);
                lowest = std::min(lowest, steps[i].count);
            }
        }
        if (first && in_effect != lowest) {
            send[*first] = lowest;
            in_effect = lowest;
        }
    }
    // From then on: the last value asked for, after the last settle and the last change.
    const std::uint16_t last = steps[*last_prefetch].count;
    if (in_effect != last) {
        send[std::max(*last_prefetch, last_settle.value_or(0))] = last;
        in_effect = last;
    }
    return send;
}

}  // namespace llmp::broker
