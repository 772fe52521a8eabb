#include "monitor/ingest_health.hpp"

#include <algorithm>
#include <cmath>

namespace llmp::monitor {
namespace {

using nlohmann::json;

/// How much history is kept: the stall time is exact up to this, a lower bound past it.
constexpr std::chrono::hours history_span{1};

std::string seconds_text(double s) {
    return std::to_string(static_cast<std::int64_t>(std::floor(s))) + " s";
}

}  // namespace

ingest_verdict judge_ingest(const std::deque<ingest_sample>& samples, std::chrono::milliseconds stall_after) {
    ingest_verdict v;
    if (samples.empty() || !samples.back().backlog) {
        return v;
    }
    const auto& newest = samples.back();
    v.known = true;
    v.backlog = *newest.backlog;
    v.consumers = newest.consumers;
    if (v.backlog == 0) {
        return v;
    }
    // The newest sample at which the audit was keeping up: the queues were empty, or a row had
    // been stored since the sample before. None in the history: stalled since its start at least.
    std::int64_t good_t = samples.front().t_ms;
    std::optional<std::string> mark_before;
    for (const auto& s : samples) {
        bool stored = s.stored_mark && mark_before && *s.stored_mark != *mark_before;
        if ((s.backlog && *s.backlog == 0) || stored) {
            good_t = s.t_ms;
        }
        if (s.stored_mark) {
            mark_before = s.stored_mark;
        }
    }
    v.stalled_for_s = static_cast<double>(newest.t_ms - good_t) / 1000.0;
    if (newest.t_ms - good_t < stall_after.count()) {
        return v;
    }
    v.ok = false;
    v.reason = "audit ingest stalled: " + std::to_string(v.backlog) + " message" + (v.backlog == 1 ? "" : "s") +
               " waiting in the audit queues and no row stored for " + seconds_text(v.stalled_for_s);
    if (v.consumers && *v.consumers == 0) {
        v.reason += " (no audit process consumes them)";
    } else if (!newest.stored_mark) {
        v.reason += " (the database cannot be read)";
    }
    return v;
}

dead_letter_verdict judge_dead_letters(const std::deque<ingest_sample>& samples, std::chrono::milliseconds window,
                                       const std::string& queue_name) {
    dead_letter_verdict v;
    if (samples.empty() || !samples.back().dead_letters) {
        return v;
    }
    const auto& newest = samples.back();
    v.known = true;
    v.count = *newest.dead_letters;
    for (const auto& s : samples) {
        if (s.t_ms >= newest.t_ms - window.count() && s.dead_letters && *s.dead_letters < v.count) {
            v.growing = true;
        }
    }
    if (v.count == 0) {
        return v;
    }
    v.ok = false;
    v.reason = std::to_string(v.count) + " message" + (v.count == 1 ? "" : "s") + " in the dead-letter queue " +
               queue_name + (v.growing ? ", growing" : "") + ": requests or audit records were dropped";
    return v;
}

json to_json(const ingest_verdict& v) {
    json j{{"known", v.known}, {"ok", v.ok}, {"stalled_for_s", v.stalled_for_s}, {"backlog", v.backlog}};
    j["consumers"] = v.consumers ? json(*v.consumers) : json(nullptr);
    if (!v.reason.empty()) {
        j["reason"] = v.reason;
    }
    return j;
}

json to_json(const dead_letter_verdict& v) {
    json j{{"known", v.known}, {"ok", v.ok}, {"count", v.count}, {"growing", v.growing}};
    if (!v.reason.empty()) {
        j["reason"] = v.reason;
    }
    return j;
}

ingest_health::ingest_health(std::chrono::milliseconds stall_after, std::string dead_queue_name)
    : stall_after_{stall_after}, dead_queue_{std::move(dead_queue_name)} {}

void ingest_health::record(ingest_sample s) {
    llmp::lock_guard lock{mu_};
    auto keep = std::max<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(history_span).count(),
                                       2 * stall_after_.count());
    samples_.push_back(std::move(s));
    while (samples_.size() > 2 && samples_.front().t_ms < samples_.back().t_ms - keep) {
        samples_.pop_front();
    }
}

ingest_verdict ingest_health::ingest() const {
    llmp::lock_guard lock{mu_};
    return judge_ingest(samples_, stall_after_);
}

dead_letter_verdict ingest_health::dead_letters() const {
    llmp::lock_guard lock{mu_};
    return judge_dead_letters(samples_, stall_after_, dead_queue_);
}

}  // namespace llmp::monitor
