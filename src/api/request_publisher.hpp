#pragma once
// request_publisher: the one thing the relay needs from the broker. It publishes a generation
// request (and reports the broker's answer), a cancel for a request this server gave up on, and
// the verdict the audit stores when this server, not the worker, ended a stream, and the
// confirmation that a worker's outcome reached its client.
// broker_request_publisher is the real one (RabbitMQ); api/testing/fake_request_publisher.hpp
// records calls for relay_test.
//
// Thread-safety: every method may be called from any thread; `done` runs on a thread of the
// implementation's choosing (the publisher thread for RabbitMQ), so it must only post.

#include "api/stream_event.hpp"
#include "common/messages.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace llmp::api {

class request_publisher {
public:
    using done_fn = std::function<void(publish_outcome)>;

    virtual ~request_publisher() = default;

    /// The broker connection is up now (a request published while it is down would only wait).
    virtual bool connected() const = 0;
    /// Queues `m` for its model's work queue with a time-to-live of `ttl_ms` (0 = none); `done` gets the
    /// broker's answer. False: too many publishes are waiting (done is not called).
    virtual bool publish_request(const request_message& m, std::int64_t ttl_ms, done_fn done) = 0;
    /// Tells the worker serving `request_id` to stop (best effort: no answer).
    virtual void publish_cancel(const std::string& request_id) = 0;
    /// Straight into the audit: what the client was told when this server ended the stream
    /// (broker::verdict_type). Best effort; a lost verdict leaves the worker's own report.
    virtual void publish_verdict(const std::string& request_id, const error_message& verdict) = 0;
    /// This server handed `request_id`'s worker outcome (its final or error) to the client: the
    /// audit hears it in the next delivery confirmation (api/delivery_confirmer.hpp), so it can
    /// tell those answers from the ones a lost server never delivered.
    virtual void confirm_delivery(const std::string& request_id) = 0;
};

}  // namespace llmp::api
