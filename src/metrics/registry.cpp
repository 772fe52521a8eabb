#include "metrics/registry.hpp"

#include "common/version.hpp"
#include "metrics/text_format.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace llmp::metrics {

// ---- histogram ------------------------------------------------------------------------------

histogram::histogram(const std::vector<double>& bounds)
    : bounds_{bounds}, counts_{std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)} {}

void histogram::observe(double v) noexcept {
    // le is inclusive: v lands in the first bucket whose bound is >= v (NaN goes to +Inf).
    auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::snap() const {
    snapshot s;
    s.cumulative.resize(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += counts_[i].load(std::memory_order_relaxed);
        s.cumulative[i] = running;
    }
    // The count is the +Inf bucket, so the two always agree even mid-observation.
    s.count = running;
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

namespace buckets {

const std::vector<double>& latency_short() {
    static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    return b;
}

const std::vector<double>& latency_long() {
    static const std::vector<double> b{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
    return b;
}

const std::vector<double>& sizes() {
    static const std::vector<double> b{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
    return b;
}

}  // namespace buckets

// ---- families -------------------------------------------------------------------------------

namespace {

const char* type_name(metric_type t) {
    switch (t) {
        case metric_type::counter:
            return "counter";
        case metric_type::gauge:
            return "gauge";
        case metric_type::histogram:
            return "histogram";
    }
    return "untyped";
}

void append_header(std::string& out, const std::string& name, const std::string& help, metric_type type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    text::append_help(out, help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(type);
    out += '\n';
}

void check_labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string& metric) {
    if (names.size() != values.size()) {
        throw std::logic_error("metric " + metric + ": " + std::to_string(names.size()) + " label names but " +
                               std::to_string(values.size()) + " values");
    }
}

void append_sample(std::string& out, const std::string& name, std::string_view suffix,
                   const std::vector<std::string>& names, const std::vector<std::string>& values) {
    out += name;
    out += suffix;
    text::append_labels(out, names, values);
    out += ' ';
}

}  // namespace

template <class Metric>
family<Metric>::family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : name_{std::move(name)},
      help_{std::move(help)},
      type_{type},
      label_names_{std::move(label_names)},
      bounds_{std::move(bounds)} {}

template <class Metric>
Metric& family<Metric>::with(const std::vector<std::string>& label_values) {
    check_labels(label_names_, label_values, name_);
    llmp::lock_guard lock{mu_};
    for (auto& c : children_) {
        if (c.values == label_values) {
            return c.metric;
        }
    }
    if constexpr (std::is_same_v<Metric, histogram>) {
        return children_.emplace_back(label_values, bounds_).metric;
    } else {
        return children_.emplace_back(label_values).metric;
    }
}

template <class Metric>
void family<Metric>::render(std::string& out) const {
    llmp::lock_guard lock{mu_};
    if (children_.empty()) {
        return;
    }
    append_header(out, name_, help_, type_);
    for (const auto& c : children_) {
        if constexpr (std::is_same_v<Metric, histogram>) {
            auto s = c.metric.snap();
            std::string le;
            for (std::size_t i = 0; i <= bounds_.size(); ++i) {
                le.clear();
                if (i < bounds_.size()) {
                    text::append_value(le, bounds_[i]);
                } else {
                    le = "+Inf";
                }
                out += name_;
                out += "_bucket";
                text::append_labels(out, label_names_, c.values, "le", le);
                out += ' ';
                text::append_value(out, s.cumulative[i]);
                out += '\n';
            }
            append_sample(out, name_, "_sum", label_names_, c.values);
            text::append_value(out, s.sum);
            out += '\n';
            append_sample(out, name_, "_count", label_names_, c.values);
            text::append_value(out, s.count);
            out += '\n';
        } else {
            append_sample(out, name_, "", label_names_, c.values);
            text::append_value(out, c.metric.value());
            out += '\n';
        }
    }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

callback_family::callback_family(std::string name, std::string help, metric_type type,
                                 std::vector<std::string> label_names)
    : name_{std::move(name)}, help_{std::move(help)}, type_{type}, label_names_{std::move(label_names)} {}

void callback_family::add(std::vector<std::string> label_values, std::function<double()> read) {
    check_labels(label_names_, label_values, name_);
    llmp::lock_guard lock{mu_};
    children_.emplace_back(std::move(label_values), std::move(read));
}

void callback_family::render(std::string& out) const {
    llmp::lock_guard lock{mu_};
    if (children_.empty()) {
        return;
    }
    append_header(out, name_, help_, type_);
    for (const auto& [values, read] : children_) {
        append_sample(out, name_, "", label_names_, values);
        text::append_value(out, read());
        out += '\n';
    }
}

// ---- registry -------------------------------------------------------------------------------

struct registry::entry {
    std::string name;
    metric_type type;
    std::vector<std::string> label_names;
    std::variant<std::unique_ptr<family<counter>>, std::unique_ptr<family<gauge>>, std::unique_ptr<family<histogram>>,
                 std::unique_ptr<callback_family>>
        fam;
};

registry::registry() = default;
registry::~registry() = default;

registry::entry& registry::find_or_add(const std::string& name, metric_type type,
                                       const std::vector<std::string>& label_names, bool callback) {
    if (!text::valid_metric_name(name)) {
        throw std::logic_error("invalid metric name '" + name + "'");
    }
    for (const auto& l : label_names) {
        if (!text::valid_label_name(l) || (type == metric_type::histogram && l == "le")) {
            throw std::logic_error("metric " + name + ": invalid label name '" + l + "'");
        }
    }
    for (auto& e : entries_) {
        if (e->name != name) {
            continue;
        }
        bool same_kind = callback == std::holds_alternative<std::unique_ptr<callback_family>>(e->fam);
        if (e->type != type || e->label_names != label_names || !same_kind) {
            throw std::logic_error("metric " + name + " registered twice with different type or labels");
        }
        return *e;
    }
    auto e = std::make_unique<entry>();
    e->name = name;
    e->type = type;
    e->label_names = label_names;
    return *entries_.emplace_back(std::move(e));
}

family<counter>& registry::counters(std::string name, std::string help, std::vector<std::string> label_names) {
    llmp::lock_guard lock{mu_};
    auto& e = find_or_add(name, metric_type::counter, label_names, false);
    if (auto* p = std::get_if<std::unique_ptr<family<counter>>>(&e.fam); p && *p) {
        return **p;
    }
    auto* f = new family<counter>(std::move(name), std::move(help), metric_type::counter, std::move(label_names), {});
    e.fam = std::unique_ptr<family<counter>>(f);
    return *f;
}

family<gauge>& registry::gauges(std::string name, std::string help, std::vector<std::string> label_names) {
    llmp::lock_guard lock{mu_};
    auto& e = find_or_add(name, metric_type::gauge, label_names, false);
    if (auto* p = std::get_if<std::unique_ptr<family<gauge>>>(&e.fam); p && *p) {
        return **p;
    }
    auto* f = new family<gauge>(std::move(name), std::move(help), metric_type::gauge, std::move(label_names), {});
    e.fam = std::unique_ptr<family<gauge>>(f);
    return *f;
}

family<histogram>& registry::histograms(std::string name, std::string help, std::vector<double> bounds,
                                        std::vector<std::string> label_names) {
    if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
        std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
        !std::all_of(bounds.begin(), bounds.end(), [](double b) { return std::isfinite(b); })) {
        throw std::logic_error("histogram " + name + ": bounds must be finite and strictly increasing");
    }
    llmp::lock_guard lock{mu_};
    auto& e = find_or_add(name, metric_type::histogram, label_names, false);
    if (auto* p = std::get_if<std::unique_ptr<family<histogram>>>(&e.fam); p && *p) {
        return **p;
    }
    auto* f = new family<histogram>(std::move(name), std::move(help), metric_type::histogram, std::move(label_names),
                                    std::move(bounds));
    e.fam = std::unique_ptr<family<histogram>>(f);
    return *f;
}

callback_family& registry::callback(std::string name, std::string help, metric_type type,
                                    std::vector<std::string> label_names) {
    if (type == metric_type::histogram) {
        throw std::logic_error("callback metric " + name + ": counters and gauges only");
    }
    llmp::lock_guard lock{mu_};
    auto& e = find_or_add(name, type, label_names, true);
    if (auto* p = std::get_if<std::unique_ptr<callback_family>>(&e.fam); p && *p) {
        return **p;
    }
    auto* f = new callback_family(std::move(name), std::move(help), type, std::move(label_names));
    e.fam = std::unique_ptr<callback_family>(f);
    return *f;
}

void registry::render(std::string& out) const {
    llmp::lock_guard lock{mu_};
    for (const auto& e : entries_) {
        std::visit(
            [&out](const auto& f) {
                if (f) {
                    f->render(out);
                }
            },
            e->fam);
    }
}

std::string registry::render() const {
    std::string out;
    render(out);
    return out;
}

void add_build_info(registry& r) {
    r.gauges("llmproxy_build_info", "Always 1; the version of llmproxy this process runs.", {"version"})
        .with({std::string{llmproxy_version()}})
        .set(1);
}

}  // namespace llmp::metrics
