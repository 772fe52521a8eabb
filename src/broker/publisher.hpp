#pragma once
// publisher: a thread that owns one AMQP connection (confirm mode) and publishes what other
// threads hand it. Used by the API server (requests) and the worker (chunks, finals, errors,
// heartbeats).
//
// Threading: try_publish() is safe from any thread and never blocks (false = queue full, or
// stopped). Everything else about the connection happens on the publisher's own thread, which
// poll()s the socket and the job queue together, so a job is written within microseconds and
// confirms are read as they arrive. Callbacks (`publish_job::done`, the return handler) run on
// the publisher thread: keep them short and hand work elsewhere (net::post).
//
// Coalescing: jobs marked `coalesce` (stream chunks) that wait in the queue together and share
// routing key and correlation id are merged into one message (bodies appended, the later
// job's headers kept). A lone chunk goes out at once; under load the message rate stays
// bounded (design.md "Tokens may be coalesced"). The rule is broker/publish_batch.hpp.
//
// Multiplexing: jobs marked `multiplex` (stream chunks) are held and go out as one message per
// destination carrying a frame per stream (broker/chunk_mux.hpp): at once when the publisher
// has not flushed for `chunk_flush_interval`, else when that interval since the last flush has
// passed, so an idle publisher adds no delay and a busy one sends one message per destination
// per interval. Held chunks are written before any other job, which keeps each stream's final
// after its chunks. While chunks are held and not yet due, the thread leaves its queue alone
// (no wake-up per token); what arrives meanwhile joins the next flush. Except a stream's first
// chunk (seq 1): try_publish() signals it apart, and it goes at once with what is held. And,
// while the publisher serves one stream (its last flush carried one stream's frame), the end of
// an answer (any job not multiplexed): it goes at once too, with the held chunks before it.
//
// Nacks: a nacked publish completes `nacked` (not retried), and the publisher moves its later
// publishes to a new channel of the same connection, at most every 100 ms, because RabbitMQ
// 3.10 can leave a channel nacking every publish to a quorum queue whose leader's node died
// (publisher.cpp, "A nack renews the channel").
//
// Reconnection (broker/reconnect.hpp, shared with the consumer): when the connection breaks,
// every unconfirmed job completes with broker_unavailable, and the thread reconnects with
// backoff, running `setup` again (topology redeclared). Jobs submitted while disconnected complete at once with broker_unavailable.

#include "broker/config.hpp"
#include "broker/message.hpp"
#include "common/notifying_queue.hpp"
#include "common/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace llmp::broker {

class connection;

enum class publish_status {
    confirmed,           ///< the broker took responsibility (basic.ack)
    nacked,              ///< refused (e.g. a full reject-publish queue)
    broker_unavailable,  ///< connection lost before a confirm, or not connected
};

struct publish_job {
    outgoing_message msg;
    /// Called once on the publisher thread with the outcome; may be empty.
    std::function<void(publish_status)> done;
    bool coalesce = false;
    /// A stream chunk to multiplex with the other streams' (broker/chunk_mux.hpp): held and
    /// written as a frame of one message per destination per flush. msg carries destination,
    /// request id (correlation_id), text (body), mandatory and headers; seq and attempt are
    /// the frame's. No `done`: a multiplexed chunk is not confirmed on its own.
    bool multiplex = false;
    std::int64_t seq = 0;
    std::int64_t attempt = 1;
    int choice = 0;  ///< the frame's choice index (n > 1; common/chunk_frames.hpp), 0 for n = 1
    /// Optional, for a `multiplex` job: the stream's destination, made once per stream and
    /// shared by all its chunks (exchange, routing key, mandatory, headers, and the request id
    /// in props.correlation_id); msg then carries only the text (body). Saves copying those
    /// strings (and allocating the headers) for every token.
    std::shared_ptr<const outgoing_message> stream;
};

/// An entry of the publisher's queue: a job to publish, or the wake-up stop() sends so that
/// the thread sees the stop flag at once. Only this flag marks it; a job is published whatever
/// its exchange or routing key. (Batches of these are planned by broker/publish_batch.hpp.)
struct queued_job {
    publish_job job;
    bool stop = false;
};

class publisher {
public:
    using setup_fn = std::function<result<void>(connection&)>;
    using return_fn = std::function<void(returned_message&&)>;
    using state_fn = std::function<void(bool connected)>;

    publisher(broker_config cfg, std::string name, setup_fn setup, return_fn on_return = {}, state_fn on_state = {},
              std::size_t capacity = 1 << 16);
    ~publisher();
    publisher(const publisher&) = delete;
    publisher& operator=(const publisher&) = delete;

    /// Connects (and runs setup) on the calling thread, then starts the publisher thread.
    /// A failure here is a start-up failure: the caller reports it and exits.
    result<void> start();
    /// Publishes what is queued, waits up to `drain` for outstanding confirms, closes.
    void stop(std::chrono::milliseconds drain = std::chrono::milliseconds{2000});

    /// Before start(): how long multiplexed chunks may be held, and the largest message built.
    void set_chunk_multiplexing(std::chrono::microseconds flush_interval, std::size_t max_message_bytes) {
        chunk_flush_interval_ = flush_interval;
        chunk_message_max_bytes_ = max_message_bytes;
    }

    bool try_publish(publish_job&& job);
    bool connected() const { return connected_.load(std::memory_order_relaxed); }
    /// How often a nack moved the publishes to a new channel (tests, logs).
    std::uint64_t channels_renewed() const { return channels_renewed_.load(std::memory_order_relaxed); }
    std::size_t queued() const { return queue_.size(); }

private:
    struct pending;
    /// The publishing channels of one connection (publisher thread): the delivery tag each
    /// starts at (connection tags run on over channels), whether a nack asks for a new one.
    struct channel_renewal {
        static constexpr std::chrono::milliseconds renew_interval{100};
        std::vector<std::uint64_t> starts{1};
        bool nacked = false;
        std::chrono::steady_clock::time_point last{};
        /// The first tag of the channel that published `tag`.
        std::uint64_t channel_start(std::uint64_t tag) const {
            std::uint64_t start = 1;
            for (auto s : starts) {
                if (s <= tag) {
                    start = s;
                }
            }
            return start;
        }
    };
    bool renew_after_nack(connection& conn, channel_renewal& renew);
    void run();
    void serve(connection& conn);
    void fail_all(publish_status why);
    /// Completes every job still queued with broker_unavailable (publisher thread).
    void refuse_queued(std::vector<queued_job>& scratch);

    broker_config cfg_;
    std::string name_;
    setup_fn setup_;
    return_fn on_return_;
    state_fn on_state_;
    notifying_queue<queued_job> queue_;
    std::unique_ptr<connection> initial_;
    std::unique_ptr<pending> pending_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> channels_renewed_{0};
    std::chrono::milliseconds drain_{2000};
    std::chrono::microseconds chunk_flush_interval_{2000};
    std::size_t chunk_message_max_bytes_ = 128 * 1024;
    std::thread thread_;
};

}  // namespace llmp::broker
