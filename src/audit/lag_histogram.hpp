#pragma once
// lag_histogram: counts of publish->commit lags in 1 ms buckets up to 60 s (the last bucket
// holds everything slower), for p50/p99 without keeping samples. Not thread-safe: the owner
// (pg_writer) guards it.

#include <algorithm>
#include <cstdint>
#include <vector>

namespace llmp::audit {

class lag_histogram {
public:
    static constexpr std::int64_t max_ms = 60000;

    void add(std::int64_t lag_ms) {
        auto i = static_cast<std::size_t>(std::clamp<std::int64_t>(lag_ms, 0, max_ms));
        ++buckets_[i];
        ++count_;
    }
    std::uint64_t count() const { return count_; }
    /// The smallest lag (ms) at or below which a fraction `q` of the samples fall; -1 if empty.
    std::int64_t quantile(double q) const {
        if (count_ == 0) {
            return -1;
        }
        auto want = static_cast<std::uint64_t>(q * static_cast<double>(count_));
        want = std::max<std::uint64_t>(want, 1);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i];
            if (seen >= want) {
                return static_cast<std::int64_t>(i);
            }
        }
        return max_ms;
    }
    void clear() {
        std::fill(buckets_.begin(), buckets_.end(), 0);
        count_ = 0;
    }

private:
    std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(max_ms + 1, 0);
    std::uint64_t count_ = 0;
};

}  // namespace llmp::audit
