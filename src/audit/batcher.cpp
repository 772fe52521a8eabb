#include "audit/batcher.hpp"

#include <algorithm>

namespace llmp::audit {

batcher::batcher(std::size_t max_rows, std::chrono::milliseconds max_age)
    : max_rows_{std::max<std::size_t>(max_rows, 1)}, max_age_{max_age} {
    rows_.reserve(max_rows_);
}

void batcher::touch(steady::time_point now) {
    if (!first_) {
        first_ = now;
    }
}

void batcher::add(pending_row&& row, steady::time_point now) {
    touch(now);
    auto& top = max_tag_[row.ack.epoch];
    top = std::max(top, row.ack.tag);
    rows_.push_back(std::move(row));
}

void batcher::add_heartbeat(worker_heartbeat&& hb, steady::time_point now) {
    touch(now);
    auto it = workers_.find(hb.worker_id);
    if (it == workers_.end()) {
        auto id = hb.worker_id;
        workers_.emplace(std::move(id), std::move(hb));
    } else if (hb.sent_at_ms >= it->second.sent_at_ms) {
        it->second = std::move(hb);
    }
}

bool batcher::due(steady::time_point now) const {
    if (rows_.size() >= max_rows_) {
        return true;
    }
    return first_ && now >= *first_ + max_age_;
}

std::optional<steady::time_point> batcher::deadline() const {
    if (!first_) {
        return std::nullopt;
    }
    return *first_ + max_age_;
}

batch batcher::take() {
    batch b;
    b.rows = std::move(rows_);
    rows_ = {};
    rows_.reserve(max_rows_);
    for (auto& [id, hb] : workers_) {
        b.workers.push_back(std::move(hb));
    }
    workers_.clear();
    for (auto [epoch, tag] : max_tag_) {
        b.acks.push_back(ack_ref{epoch, tag});
    }
    max_tag_.clear();
    first_.reset();
    return b;
}

}  // namespace llmp::audit
