#pragma once
// connection: one AMQP connection with one main channel, over rabbitmq-c. The ONLY code that
// includes <amqp.h> is connection.cpp (style.md §2). A publishing connection may move its
// publishes to a fresh channel (renew_publish_channel(), see there); the old one stays open
// until its confirms are in. A consuming one may read no-ack queues on a second channel beside
// a prefetch budget (consume_unlimited(), see there).
//
// Threading: rabbitmq-c is blocking and not thread-safe. A connection is created, used and
// destroyed by exactly one thread (the owner: a publisher or consumer thread). Nothing here
// locks. Every call returns a result; after any failure the connection is to be considered
// broken and the owner reconnects (RabbitMQ closes the channel on most errors anyway).

#include "broker/config.hpp"
#include "broker/message.hpp"
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::broker {

/// The URLs of a comma-separated list (blanks around items trimmed, empty items dropped).
std::vector<std::string> split_amqp_urls(std::string_view list);

/// Parses one amqp:// URL; given a list, its first URL (the monitor's management host).
result<amqp_endpoint> parse_amqp_url(std::string_view url);

class connection {
public:
    /// Connects, logs in, opens channel 1. `name` shows in the management UI. With several URLs
    /// in cfg.url, tries them in turn from a start that advances with every open() of the
    /// process (so connections spread over the nodes, and a reconnect starts one further on)
    /// and returns the first that works; an error only when none does.
    static result<std::unique_ptr<connection>> open(const broker_config& cfg, std::string_view name);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// "host:port" of the node this connection is to (logs, tests).
    const std::string& node() const;

    /// The socket, for poll(). Readable when frames arrive.
    int fd() const;
    /// True when frames are already buffered in the library: poll() would not see them.
    bool has_buffered_input() const;

    /// Declares a durable exchange; `arguments` e.g. {"alternate-exchange", name}.
    result<void> declare_exchange(std::string_view name, std::string_view type, const field_table& arguments = {});
    /// Declares a queue (name "" = server-named) and returns its name.
    result<std::string> declare_queue(std::string_view name, const queue_options& opts);
    /// Declares a named queue on a throwaway channel, so that a queue which already exists with
    /// other arguments answers "precondition_failed" and leaves this connection usable.
    result<void> declare_queue_kept(std::string_view name, const queue_options& opts);
    result<void> bind_queue(std::string_view queue, std::string_view exchange, std::string_view key);
    result<void> unbind_queue(std::string_view queue, std::string_view exchange, std::string_view key);
    /// An exchange-to-exchange binding: what `source` routes with `key` also goes to `destination`.
    result<void> bind_exchange(std::string_view destination, std::string_view source, std::string_view key);
    /// basic.qos. `shared` = one budget for every consumer of the channel (RabbitMQ's global
    /// flag), else `count` for each consumer started after it.
    result<void> set_prefetch(std::uint16_t count, bool shared = false);
    /// set_prefetch() without waiting for the broker's qos-ok (it is ignored when it comes):
    /// for changing the limit on a busy channel, in order with the acks sent around it.
    result<void> change_prefetch(std::uint16_t count, bool shared);
    /// Starts a consumer; returns its tag.
    result<std::string> consume(std::string_view queue, bool no_ack);
    /// Starts a no-ack consumer on a second channel (opened at its first use) that no
    /// set_prefetch() limits; returns its tag. Why: RabbitMQ's shared (global) prefetch stops
    /// every consumer of its channel once the budget is used up, no-ack ones too, so control
    /// messages consumed beside a full work budget would wait until a delivery is acked. Its
    /// deliveries come from next_event() like the others; they have nothing to ack.
    result<std::string> consume_unlimited(std::string_view queue);
    /// Stops the consumer `tag` (basic.cancel), on whichever channel consumes. Its unacked
    /// deliveries stay unacked: they are still acked or rejected on this channel. Deliveries
    /// already on the wire may still arrive.
    result<void> cancel(std::string_view tag);
    /// Puts the channel in confirm mode; publish() then returns each message's delivery tag.
    result<void> enable_confirms();
    /// Writes the message to the socket. With confirms on, returns its delivery tag (1, 2, ...):
    /// one sequence over every publishing channel of this connection (confirm events carry it).
    result<std::uint64_t> publish(const outgoing_message& m);
    /// Publishes go to a new channel (in confirm mode) from now on; returns the delivery tag of
    /// the first publish on it. Why: RabbitMQ keeps per-channel state about each queue it routed
    /// to, and 3.10 can leave that state refusing every publish to a quorum queue for good (see
    /// publisher.cpp, "A nack renews the channel"); a new channel starts from the queue's
    /// current record. The old channel stays open: its confirms still arrive, with their tags.
    /// A failure means the connection is broken.
    result<std::uint64_t> renew_publish_channel();
    /// Closes the channels renew_publish_channel() left behind whose publishes all have tags
    /// below `first_pending_tag` (every one, given UINT64_MAX). A failure means the connection
    /// is broken.
    result<void> close_renewed_channels(std::uint64_t first_pending_tag);
    result<void> ack(std::uint64_t tag, bool multiple = false);
    result<void> reject(std::uint64_t tag, bool requeue);
    /// Ready messages and consumers of a queue (passive declare on a throwaway channel).
    result<queue_state> inspect_queue(std::string_view name);

    /// The next delivery, confirm or return; monostate when none arrived within `timeout`
    /// (0 = do not wait). Also sends and checks heartbeats, so call it at least every
    /// heartbeat/2 seconds.
    result<event> next_event(std::chrono::milliseconds timeout);

private:
    struct impl;
    explicit connection(std::unique_ptr<impl> p);
    static result<std::unique_ptr<connection>> open_node(const broker_config& cfg, const amqp_endpoint& node,
                                                         std::string_view name);
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::broker
