#pragma once
// latency_histogram: percentiles from the log-spaced latency buckets of the audit rollups
// (response_rollups, pg migration 10). Bucket k holds latencies in (2^((k-1)/8), 2^(k/8)] ms
// (k = 0: up to 1 ms; 255: everything above); a percentile is read as the geometric middle of
// the bucket its rank falls in, so it is within 2^(1/16) - 1 ≈ 4.4 % of the exact value of the
// same rank. A plain value type: no threads of its own, one owner at a time.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>

namespace llmp::monitor {

class latency_histogram {
public:
    /// Adds `count` latencies to bucket `k` (0..255).
    void add(int k, std::int64_t count);
    std::int64_t total() const { return total_; }
    /// The latency (ms) at quantile q in [0, 1]; 0 when empty.
    double quantile(double q) const;
    /// {"p50": ..., "p95": ..., "p99": ...} as the exact queries answer them.
    nlohmann::json percentiles_json() const;

    /// The representative latency (ms) of bucket k.
    static double bucket_middle_ms(int k);
    /// The relative error bound of a percentile read from the buckets.
    static constexpr double max_relative_error = 0.0443;

private:
    std::map<int, std::int64_t> counts_;
    std::int64_t total_ = 0;
};

}  // namespace llmp::monitor
