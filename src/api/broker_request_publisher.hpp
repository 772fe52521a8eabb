#pragma once
// broker_request_publisher: request_publisher over the API server's RabbitMQ publisher thread:
// requests go to the request exchange keyed by model (persistent, priority, expiration = the
// deadline; the work exchange routes them to the model's queue), cancels
// to the control exchange, verdicts and delivery confirmations straight into the audit
// responses queue.
// Thread-safety: any thread (broker::publisher::try_publish is; the confirmer locks).

#include "api/delivery_confirmer.hpp"
#include "api/request_publisher.hpp"
#include "broker/topology.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace llmp::broker {
class publisher;
}

namespace llmp::api {

class broker_request_publisher final : public request_publisher {
public:
    /// `pub` and `topo` must outlive this object.
    /// `confirm_deliveries` false (--delivery-confirm-ms 0): confirm_delivery() keeps nothing.
    broker_request_publisher(broker::publisher& pub, const broker::topology& topo, std::string server_id,
                             bool confirm_deliveries = true)
        : pub_{pub}, topo_{topo}, server_id_{std::move(server_id)}, confirm_deliveries_{confirm_deliveries} {}

    bool connected() const override;
    bool publish_request(const request_message& m, std::int64_t ttl_ms, done_fn done) override;
    void publish_cancel(const std::string& request_id) override;
    void publish_verdict(const std::string& request_id, const error_message& verdict) override;
    void confirm_delivery(const std::string& request_id) override;

    /// Pending confirmations wait at most this long: a confirmation when none went out for
    /// that long is published at once (an idle server adds no wait), else with the next tick.
    /// The shorter, the smaller the window in which a server that dies has delivered an answer
    /// it has not confirmed (its audit row then says api_lost); one message per gap at most.
    static constexpr std::chrono::milliseconds confirm_gap{10};
    /// The timer's tick (every confirm_gap): flushes what is pending, and a keep-alive when
    /// nothing went out for `keepalive`.
    void tick(std::chrono::milliseconds keepalive);
    /// Publishes the pending confirmations (one message per delivery_confirmer batch; an empty
    /// one when none is pending: the keep-alive), `leaving` on the last one of a clean stop. A
    /// batch the broker does not confirm goes back to be sent with the next flush.
    void flush_confirmations(bool leaving = false);

private:
    broker::publisher& pub_;
    const broker::topology& topo_;
    const std::string server_id_;
    const bool confirm_deliveries_;
    delivery_confirmer confirmer_;
    std::atomic<std::int64_t> last_flush_ns_{0};  ///< steady_clock, of the last flush
};

}  // namespace llmp::api
