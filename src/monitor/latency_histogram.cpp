#include "monitor/latency_histogram.hpp"

#include <cmath>

namespace llmp::monitor {

void latency_histogram::add(int k, std::int64_t count) {
    if (count == 0) {
        return;
    }
    counts_[k] += count;
    total_ += count;
}

double latency_histogram::bucket_middle_ms(int k) {
    if (k <= 0) {
        return 0.5;
    }
    return std::exp2((static_cast<double>(k) - 0.5) / 8.0);
}

double latency_histogram::quantile(double q) const {
    if (total_ <= 0) {
        return 0;
    }
    // The rank percentile_cont interpolates at, rounded to the nearest stored latency.
    auto rank = static_cast<std::int64_t>(std::llround(q * static_cast<double>(total_ - 1)));
    std::int64_t seen = 0;
    for (const auto& [k, n] : counts_) {
        seen += n;
        if (seen > rank) {
            return bucket_middle_ms(k);
        }
    }
    return bucket_middle_ms(counts_.rbegin()->first);
}

nlohmann::json latency_histogram::percentiles_json() const {
    return {{"p50", quantile(0.5)}, {"p95", quantile(0.95)}, {"p99", quantile(0.99)}};
}

}  // namespace llmp::monitor
