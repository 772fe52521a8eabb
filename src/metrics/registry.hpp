#pragma once
// The metrics of one process, rendered in the Prometheus text exposition format 0.0.4.
//
// A metric is a family (name, help, type, label names) with one child per label-value
// combination. Children are created at registration time (family::with, which locks) and
// never freed, so code keeps a reference to its child and the hot path is one relaxed atomic
// add: no lock, no allocation, no lookup. Rendering (a scrape) locks the families briefly to
// walk their children; it never blocks an increment.
//
// Callback metrics (registry::callback) are read when rendered: for values the program already
// keeps (in-flight counts, /proc figures), so nothing has to mirror them. They run on the
// scraping thread with the registry locked: they must be thread-safe, quick, and must not
// register metrics.
//
// Ownership: one registry per process component (api_server, worker_service, audit_service),
// built with it and passed by reference (no global registry). Thread-safety: every member may
// be called from any thread.

#include "common/mutex.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::metrics {

/// A monotonically increasing integer count (events, tokens, bytes).
class counter {
public:
    void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

/// A value that goes up and down (in flight, up/down state).
class gauge {
public:
    void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
    void inc() noexcept { add(1); }
    void dec() noexcept { add(-1); }
    double value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

/// Counts of observations in fixed buckets (upper bounds, `le`), plus their sum and count.
class histogram {
public:
    /// `bounds` ascending, finite; owned by the family (outlives the histogram).
    explicit histogram(const std::vector<double>& bounds);

    void observe(double v) noexcept;

    struct snapshot {
        std::vector<std::uint64_t> cumulative;  ///< per bound, then +Inf (== count)
        double sum = 0;
        std::uint64_t count = 0;
    };
    snapshot snap() const;
    const std::vector<double>& bounds() const { return bounds_; }

private:
    const std::vector<double>& bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1 (the last is +Inf)
    std::atomic<double> sum_{0};
};

/// Standard bucket sets, in seconds or counts.
namespace buckets {
/// Time to first token: 5 ms .. 60 s.
const std::vector<double>& latency_short();
/// A whole generation or request: 10 ms .. 10 min.
const std::vector<double>& latency_long();
/// Sizes (rows per batch): 1 .. 10000.
const std::vector<double>& sizes();
}  // namespace buckets

enum class metric_type { counter, gauge, histogram };

class registry;

/// One metric name and its children. Children live as long as the registry.
template <class Metric>
class family {
public:
    /// The child for these label values (one per label name, in order), created on first use.
    /// Takes a lock: call it at registration time and keep the reference.
    Metric& with(const std::vector<std::string>& label_values);
    /// The child of a family without labels.
    Metric& get() { return with({}); }

private:
    friend class registry;
    family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
           std::vector<double> bounds);

    struct child {
        template <class... Args>
        explicit child(std::vector<std::string> v, Args&&... args)
            : values{std::move(v)}, metric(std::forward<Args>(args)...) {}
        std::vector<std::string> values;
        Metric metric;
    };
    void render(std::string& out) const;

    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
    std::vector<double> bounds_;  // histograms only
    mutable llmp::mutex mu_;
    std::deque<child> children_ GUARDED_BY(mu_);  // deque: references stay valid
};

/// Metrics read at render time from a function.
class callback_family {
public:
    void add(std::vector<std::string> label_values, std::function<double()> read);

private:
    friend class registry;
    callback_family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names);

    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
    mutable llmp::mutex mu_;
    std::vector<std::pair<std::vector<std::string>, std::function<double()>>> children_ GUARDED_BY(mu_);
    void render(std::string& out) const;
};

class registry {
public:
    registry();
    ~registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// Registering a name again with the same type and labels returns the same family; with a
    /// different one it throws std::logic_error (a programming error), as do invalid names.
    family<counter>& counters(std::string name, std::string help, std::vector<std::string> label_names = {});
    family<gauge>& gauges(std::string name, std::string help, std::vector<std::string> label_names = {});
    family<histogram>& histograms(std::string name, std::string help, std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});
    /// `type` counter or gauge.
    callback_family& callback(std::string name, std::string help, metric_type type,
                              std::vector<std::string> label_names = {});

    /// Shorthands for metrics without labels.
    counter& counter_metric(std::string name, std::string help) {
        return counters(std::move(name), std::move(help)).get();
    }
    gauge& gauge_metric(std::string name, std::string help) { return gauges(std::move(name), std::move(help)).get(); }

    /// Every family with at least one child, in registration order.
    std::string render() const;
    void render(std::string& out) const;

private:
    struct entry;
    entry& find_or_add(const std::string& name, metric_type type, const std::vector<std::string>& label_names,
                       bool callback) REQUIRES(mu_);
    mutable llmp::mutex mu_;
    std::vector<std::unique_ptr<entry>> entries_ GUARDED_BY(mu_);
};

/// The content type of render()'s output.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

/// llmproxy_build_info{version} 1.
void add_build_info(registry& r);

}  // namespace llmp::metrics
