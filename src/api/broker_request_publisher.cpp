#include "api/broker_request_publisher.hpp"

#include "api/logger.hpp"
#include "broker/publisher.hpp"
#include "common/clock.hpp"
#include "common/delivery_confirmation.hpp"

#include <algorithm>
#include <memory>

namespace llmp::api {

bool broker_request_publisher::connected() const {
    return pub_.connected();
}

bool broker_request_publisher::publish_request(const request_message& m, std::int64_t ttl_ms, done_fn done) {
    broker::publish_job job;
    job.msg.exchange = topo_.requests_exchange;
    // The fanout passes the key on to the work exchange, which routes by model.
    job.msg.routing_key = topo_.model_key(normalize_model_name(m.model));
    job.msg.props.message_id = m.request_id;
    job.msg.props.content_type = "application/json";
    job.msg.props.persistent = true;
    job.msg.props.priority = static_cast<std::uint8_t>(m.priority);
    job.msg.props.timestamp = m.received_at_ms / 1000;
    if (ttl_ms > 0) {
        job.msg.props.expiration = std::to_string(ttl_ms);
    }
    job.msg.props.headers = {{"server_id", server_id_}, {"api_flavour", m.api_flavour}};
    job.msg.body = encode(m);
    job.done = [done = std::move(done)](broker::publish_status s) {
        done(s == broker::publish_status::confirmed ? publish_outcome::confirmed
             : s == broker::publish_status::nacked  ? publish_outcome::queue_full
                                                    : publish_outcome::broker_unavailable);
    };
    return pub_.try_publish(std::move(job));
}

void broker_request_publisher::publish_cancel(const std::string& request_id) {
    broker::publish_job job;
    job.msg.exchange = topo_.control_exchange;
    job.msg.routing_key = broker::cancel_key(request_id);
    pub_.try_publish(std::move(job));
}

void broker_request_publisher::publish_verdict(const std::string& request_id, const error_message& verdict) {
    broker::publish_job job;
    job.msg.exchange = "";  // the default exchange: routing key = queue name
    job.msg.routing_key = topo_.audit_responses_queue;
    job.msg.props.type = std::string{broker::verdict_type};
    job.msg.props.correlation_id = request_id;
    job.msg.props.message_id = request_id;
    job.msg.props.content_type = "application/json";
    job.msg.props.persistent = true;
    job.msg.props.timestamp = verdict.completed_at_ms / 1000;
    job.msg.props.headers = {{"server_id", server_id_}};
    job.msg.body = encode(verdict);
    job.done = [id = request_id, code = verdict.code](broker::publish_status s) {
        if (s != broker::publish_status::confirmed) {
            api::logger()->warn(
                "msg=\"verdict not audited; the audit keeps the worker's report\" request_id={} "
                "outcome={}",
                id, code);
        }
    };
    if (!pub_.try_publish(std::move(job))) {
        api::logger()->warn("msg=\"verdict not audited (publisher queue full)\" request_id={} outcome={}", request_id,
                            verdict.code);
    }
}

void broker_request_publisher::confirm_delivery(const std::string& request_id) {
    if (!confirm_deliveries_) {
        return;
    }
    confirmer_.delivered(request_id);
    // Nothing went out for a gap: publish now, claiming the flush so that only one thread does.
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_flush_ns_.load();
    if (now - last >= std::chrono::nanoseconds{confirm_gap}.count() &&
        last_flush_ns_.compare_exchange_strong(last, now)) {
        flush_confirmations();
    }
}

void broker_request_publisher::tick(std::chrono::milliseconds keepalive) {
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto since = now - last_flush_ns_.load();
    if ((confirmer_.pending() > 0 && since >= std::chrono::nanoseconds{confirm_gap}.count()) ||
        since >= std::chrono::nanoseconds{keepalive}.count()) {
        flush_confirmations();
    }
}

void broker_request_publisher::flush_confirmations(bool leaving) {
    last_flush_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
    // At least one message (the keep-alive), then as many as the ids pending now fill; ids put
    // back meanwhile (a publish the broker refused) wait for the next flush.
    const std::size_t n = std::max<std::size_t>(
        1, (confirmer_.pending() + delivery_confirmer::default_max_ids - 1) / delivery_confirmer::default_max_ids);
    for (std::size_t i = 0; i < n; ++i) {
        delivery_confirmation m{server_id_, unix_ms(), confirmer_.take(), leaving && i + 1 == n};
        broker::publish_job job;
        job.msg.exchange = "";  // the default exchange: routing key = queue name
        job.msg.routing_key = topo_.audit_responses_queue;
        job.msg.props.type = std::string{broker::delivered_type};
        job.msg.props.content_type = "application/json";
        job.msg.props.persistent = true;
        job.msg.props.timestamp = m.sent_at_ms / 1000;
        job.msg.props.headers = {{"server_id", server_id_}};
        job.msg.body = encode(m);
        auto ids = std::make_shared<std::vector<std::string>>(std::move(m.request_ids));
        job.done = [this, ids](broker::publish_status s) {
            if (s != broker::publish_status::confirmed && !ids->empty()) {
                // Sent again with the next flush: the audit must not miss a delivered answer.
                confirmer_.put_back(std::move(*ids));
            }
        };
        if (!pub_.try_publish(std::move(job))) {
            confirmer_.put_back(std::move(*ids));
            api::logger()->warn("msg=\"delivery confirmation postponed (publisher queue full)\" pending={}",
                                confirmer_.pending());
            return;
        }
    }
}

}  // namespace llmp::api
