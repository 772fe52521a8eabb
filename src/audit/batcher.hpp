#pragma once
// batcher: gathers decoded rows until a batch is due (max_rows rows, or the oldest has waited
// max_age), like LevelDB's group commit. It also keeps the newest heartbeat per worker, and
// for acks the highest delivery tag per connection epoch: the writer takes rows in delivery
// order, so after a batch commits one basic.ack(multiple) per epoch settles all of it.
//
// Threading: owned and used by the pg_writer thread only.

#include "audit/record.hpp"
#include "broker/message.hpp"
#include "common/clock.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmp::audit {

/// Identifies one delivery for ack/reject: the consumer connection's epoch and the tag.
struct ack_ref {
    std::uint64_t epoch = 0;
    std::uint64_t tag = 0;
};

/// A decoded row waiting to be written, with what is needed to settle its delivery.
struct pending_row {
    record rec;
    ack_ref ack;
    broker::delivery original;  ///< kept (moved, not copied) to dead-letter it if the row is refused
};

struct batch {
    std::vector<pending_row> rows;
    std::vector<worker_heartbeat> workers;
    /// Highest tag per epoch, ascending epochs: ack each with multiple=true after COMMIT.
    std::vector<ack_ref> acks;

    bool empty() const { return rows.empty() && workers.empty(); }
};

class batcher {
public:
    batcher(std::size_t max_rows, std::chrono::milliseconds max_age);

    void add(pending_row&& row, steady::time_point now);
    /// Keeps the newest heartbeat of each worker (by sent_at_ms).
    void add_heartbeat(worker_heartbeat&& hb, steady::time_point now);

    /// True when a batch should be written now.
    bool due(steady::time_point now) const;
    /// When the current batch becomes due by age; nullopt when empty.
    std::optional<steady::time_point> deadline() const;
    std::size_t rows() const { return rows_.size(); }
    /// How many more rows fit before the batch is full.
    std::size_t room() const { return rows_.size() >= max_rows_ ? 0 : max_rows_ - rows_.size(); }
    bool empty() const { return rows_.empty() && workers_.empty(); }

    /// Hands the current batch over and starts a new one.
    batch take();

private:
    void touch(steady::time_point now);

    std::size_t max_rows_;
    std::chrono::milliseconds max_age_;
    std::vector<pending_row> rows_;
    std::map<std::string, worker_heartbeat> workers_;
    std::map<std::uint64_t, std::uint64_t> max_tag_;  // epoch -> highest tag
    std::optional<steady::time_point> first_;
};

}  // namespace llmp::audit
