#pragma once
// consumer: a thread that owns one AMQP connection and receives deliveries from the queues that
// `setup` subscribes to (it declares, binds, sets prefetch and calls consume on each connect).
//
// Threading: the delivery handler runs on the consumer thread; it must not block (hand the work
// to Asio with net::post or to another queue). ack()/reject() are safe from any thread: they are
// queued and carried out by the consumer thread, which poll()s its socket and that queue
// together. Delivery tags belong to one connection: each carries the connection's `epoch`, and
// an ack for an older epoch is dropped (the broker already requeued that delivery).
//
// Reconnection (broker/reconnect.hpp, shared with the publisher): when the connection breaks,
// on_state(false) is called, then the thread reconnects with backoff, runs setup again and
// calls on_state(true).

#include "broker/config.hpp"
#include "broker/message.hpp"
#include "broker/prefetch_plan.hpp"
#include "common/notifying_queue.hpp"
#include "common/result.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace llmp::broker {

class connection;

class consumer {
public:
    using setup_fn = std::function<result<void>(connection&)>;
    using delivery_fn = std::function<void(delivery&&, std::uint64_t epoch)>;
    using state_fn = std::function<void(bool connected)>;
    /// Called on the consumer thread about every `tick` (for periodic work such as expiry).
    using tick_fn = std::function<void()>;

    consumer(broker_config cfg, std::string name, setup_fn setup, delivery_fn on_delivery, state_fn on_state = {});
    ~consumer();
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    /// Connects and runs setup on the calling thread, then starts the consumer thread.
    result<void> start();
    void stop();

    void ack(std::uint64_t epoch, std::uint64_t tag);
    /// Acks every outstanding delivery of `epoch` up to and including `tag` (basic.ack
    /// multiple): for consumers that settle deliveries in order, one frame per batch.
    void ack_multiple(std::uint64_t epoch, std::uint64_t tag);
    void reject(std::uint64_t epoch, std::uint64_t tag, bool requeue);
    /// Changes the prefetch of the channel the deliveries come on (connection::change_prefetch),
    /// in order with the acks queued before and after it; void for an older epoch.
    void change_prefetch(std::uint64_t epoch, std::uint16_t count, bool shared);
    /// The connection epoch now (deliveries carry theirs).
    std::uint64_t epoch() const { return epoch_.load(); }
    /// Runs `fn` on the consumer thread once the acks and rejects queued before it have been
    /// carried out (written to the socket), or dropped with their connection. For a caller
    /// that must not act until the broker has been told (the worker runs a copy of a request
    /// only after the original is acked). `fn` must not block.
    void after_pending(std::function<void()> fn);
    /// Runs `fn` on the consumer thread with its connection, in order with the acks queued
    /// before it: for changing subscriptions while connected (consume, cancel). Dropped while
    /// the connection is down (setup runs again on reconnect). A failure counts as a broken
    /// connection: the thread reconnects and reruns setup. `fn` must not block for long.
    void run_with_connection(std::function<result<void>(connection&)> fn);
    bool connected() const { return connected_.load(std::memory_order_relaxed); }

private:
    struct command {
        enum class kind {
            ack,
            ack_multiple,
            reject_requeue,
            reject_drop,
            wake,
            call,
            with_connection,
            prefetch
        } what = kind::wake;
        std::uint64_t epoch = 0;
        std::uint64_t tag = 0;                             ///< the prefetch count for kind::prefetch
        std::function<void()> fn;                          ///< kind::call only
        std::function<result<void>(connection&)> on_conn;  ///< kind::with_connection only
        bool shared = false;                               ///< kind::prefetch only
    };
    /// Carries out `cmds` in order: connection commands of `epoch` on `conn` (none when
    /// `conn` is null: the connection is gone), calls whatever the connection. False if an
    /// ack failed (the connection is broken).
    bool carry_out_all(connection* conn, std::uint64_t epoch, std::vector<command>& cmds);
    void run();
    bool serve(connection& conn);
    static result<void> carry_out(connection& conn, const command& c);

    broker_config cfg_;
    std::string name_;
    setup_fn setup_;
    delivery_fn on_delivery_;
    state_fn on_state_;
    notifying_queue<command> commands_{1 << 20};
    /// Consumer thread only: the prefetch the broker has (nullopt: as setup left it), and the
    /// planning buffer of a batch's prefetch changes (broker/prefetch_plan.hpp).
    std::optional<std::uint16_t> prefetch_in_effect_;
    std::vector<prefetch_step> steps_;
    std::unique_ptr<connection> initial_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> epoch_{1};
    std::thread thread_;
};

}  // namespace llmp::broker
