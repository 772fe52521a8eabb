#include "broker/publisher.hpp"

#include "broker/chunk_mux.hpp"
#include "broker/connection.hpp"
#include "broker/logger.hpp"
#include "broker/publish_batch.hpp"
#include "broker/reconnect.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <system_error>

namespace llmp::broker {

/// Jobs written to the socket and not yet confirmed, by delivery tag (publisher thread only);
/// and the eventfd try_publish() signals for a stream's first multiplexed chunk (any thread).
struct publisher::pending {
    std::map<std::uint64_t, std::function<void(publish_status)>> by_tag;
    /// While the publisher holds chunks for the flush gate it does not look at its queue (no
    /// wake-up per token), except for this: a stream's first chunk (seq 1) is its client's time
    /// to first token, so it is taken and flushed at once, with what is held
    /// (chunk_mux::holds_first_chunk()). One extra message per stream at most.
    int first_chunk_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /// And this, for any other job (a final, an error), watched only while the publisher serves
    /// one stream (flush_gate::lone_stream()): a lone stream's answer then ends when it ends, not
    /// up to an interval later, its held tokens going with it; under load the gate decides. It is
    /// signalled whether watched or not (a signal left from a busy time costs one early drain
    /// when watching starts, and none is ever missed), but only by a publisher that has held
    /// chunks: the API's costs no write per request.
    int answer_end_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    std::atomic<bool> holds_chunks{false};

    pending() {
        if (first_chunk_fd < 0 || answer_end_fd < 0) {
            throw std::system_error(errno, std::generic_category(), "eventfd");
        }
    }
    ~pending() {
        ::close(first_chunk_fd);
        ::close(answer_end_fd);
    }
    pending(const pending&) = delete;
    pending& operator=(const pending&) = delete;
};

publisher::publisher(broker_config cfg, std::string name, setup_fn setup, return_fn on_return, state_fn on_state,
                     std::size_t capacity)
    : cfg_{std::move(cfg)},
      name_{std::move(name)},
      setup_{std::move(setup)},
      on_return_{std::move(on_return)},
      on_state_{std::move(on_state)},
      queue_{capacity},
      pending_{std::make_unique<pending>()} {}

publisher::~publisher() {
    stop();
}

result<void> publisher::start() {
    auto conn = connection::open(cfg_, name_);
    if (!conn) {
        return conn.error();
    }
    if (auto c = conn.value()->enable_confirms(); !c) {
        return c;
    }
    if (setup_) {
        if (auto s = setup_(*conn.value()); !s) {
            return s;
        }
    }
    initial_ = std::move(conn.value());
    connected_ = true;
    thread_ = std::thread{[this] { run(); }};
    return ok();
}

void publisher::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) {
        return;
    }
    drain_ = drain;
    stopping_ = true;
    queue_.push_unbounded(queued_job{.job = {}, .stop = true});  // wakes the thread
    thread_.join();
}

bool publisher::try_publish(publish_job&& job) {
    if (stopping_.load(std::memory_order_relaxed)) {
        return false;
    }
    const bool first_chunk = job.multiplex && job.seq == 1;
    const bool answer_end = !job.multiplex && pending_->holds_chunks.load(std::memory_order_relaxed);
    queued_job q{.job = std::move(job), .stop = false};
    if (queue_.try_push(std::move(q))) {
        if (first_chunk || answer_end) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n =
                ::write(first_chunk ? pending_->first_chunk_fd : pending_->answer_end_fd, &one, sizeof one);
        }
        return true;
    }
    job = std::move(q.job);  // refused: the caller keeps its job, as notifying_queue promises
    return false;
}

void publisher::refuse_queued(std::vector<queued_job>& scratch) {
    scratch.clear();
    queue_.drain(scratch);
    for (auto& q : scratch) {
        if (q.job.done) {
            q.job.done(publish_status::broker_unavailable);
        }
    }
}

void publisher::fail_all(publish_status why) {
    auto& p = *pending_;
    for (auto& [tag, done] : p.by_tag) {
        done(why);
    }
    p.by_tag.clear();
}

void publisher::run() {
    std::vector<queued_job> rejected;
    connection_loop_hooks hooks;
    hooks.role = "publisher";
    hooks.name = name_;
    hooks.set_up = [this](connection& c) {
        auto confirms = c.enable_confirms();
        return confirms && setup_ ? setup_(c) : confirms;
    };
    hooks.wake_fd = queue_.fd();
    hooks.serve = [this](connection& c) { serve(c); };
    // Not connected: refuse what arrives (the caller answers 503).
    hooks.while_down = [this, &rejected] { refuse_queued(rejected); };
    hooks.on_state = [this](bool connected) {
        connected_ = connected;
        if (!connected) {
            fail_all(publish_status::broker_unavailable);
        }
        if (on_state_) {
            on_state_(connected);
        }
    };
    run_connection_loop(cfg_, std::move(initial_), stopping_, hooks);
    refuse_queued(rejected);
    fail_all(publish_status::broker_unavailable);
    connected_ = false;
}

// A nack renews the channel. RabbitMQ 3.10 (Debian 12) keeps, per channel, a client state for
// each quorum queue the channel has routed to, made at the channel's first publish there with
// the queue's leader as its record names it then. When that leader's node is gone and the
// record not yet updated (the re-election takes ~0.5 s; a publisher that lost its node has
// reconnected by then), the state's first step is an RPC to the dead node, which answers
// {badrpc, nodedown} as `reject_publish` without changing the state (rabbit_fifo_client:
// enqueue/3, queue_status stays undefined): every later publish on that channel to that queue
// is nacked the same way, until the dead node is back (bench/RESULTS.md, "A broker node lost
// under load"). A new channel builds its state from the current record, so the publisher moves
// to one when a confirm comes back nacked, at most once per `renew_interval` (a queue that is
// really full nacks on any channel: that costs one channel open and close per interval). The
// nacked publish itself is not retried: a nack says some queue refused it, not that none took
// it (a request may already be in its work queue), so its caller decides (the API answers 503).
bool publisher::renew_after_nack(connection& conn, channel_renewal& renew) {
    if (renew.nacked) {
        const auto now = std::chrono::steady_clock::now();
        if (now - renew.last >= channel_renewal::renew_interval) {
            auto first = conn.renew_publish_channel();
            if (!first) {
                broker::logger()->warn("msg=\"publisher channel renewal failed\" publisher={} error=\"{}\"", name_,
                                       first.error().message);
                return false;
            }
            renew.starts.push_back(first.value());
            renew.last = now;
            renew.nacked = false;
            channels_renewed_.fetch_add(1, std::memory_order_relaxed);
            broker::logger()->info("msg=\"publisher moved to a new channel after a nack\" publisher={} node={}", name_,
                                   conn.node());
        }
    }
    if (renew.starts.size() > 1) {
        const auto& p = *pending_;
        const auto first_pending = p.by_tag.empty() ? UINT64_MAX : p.by_tag.begin()->first;
        if (auto c = conn.close_renewed_channels(first_pending); !c) {
            return false;
        }
        // Channels closed: their starts are no longer needed to bound a `multiple` confirm.
        while (renew.starts.size() > 1 && renew.starts[1] <= first_pending) {
            renew.starts.erase(renew.starts.begin());
        }
    }
    return true;
}

void publisher::serve(connection& conn) {
    auto log = broker::logger();
    auto& p = *pending_;
    std::vector<queued_job> batch;
    std::vector<std::size_t> carrier;
    std::chrono::steady_clock::time_point stop_deadline{};

    channel_renewal renew;
    // Confirms no job waits for (multiplexed chunk messages have no `done`) need not wake the
    // thread. While no job waits on a confirm and something was published since the last read,
    // the socket is read at most every idle_read_interval (on a wake for a job, or a timeout
    // set for it), so one recv() takes the acks of several messages, instead of a wake and a
    // recv() for each message's ack (bench/RESULTS.md, "Issue 13: one send per published
    // message"). Returns and nacks of those publishes wait that long at most; a job with
    // `done`, a nack to act on, or stopping make the thread watch the socket again at once.
    constexpr auto idle_read_interval = std::chrono::milliseconds{20};
    auto last_read = std::chrono::steady_clock::time_point{};
    bool published_since_read = false;
    auto handle_events = [&]() -> bool {
        // Read everything that has arrived; false when the connection broke.
        last_read = std::chrono::steady_clock::now();
        published_since_read = false;
        for (;;) {
            auto ev = conn.next_event(std::chrono::milliseconds{0});
            if (!ev) {
                log->warn("msg=\"publisher connection lost\" publisher={} error=\"{}\"", name_, ev.error().message);
                return false;
            }
            auto& e = ev.value();
            if (std::holds_alternative<std::monostate>(e)) {
                return true;
            }
            if (auto* c = std::get_if<confirm>(&e)) {
                auto status = c->ack ? publish_status::confirmed : publish_status::nacked;
                // Only a nack from the channel in use asks for a new one (an older channel's late
                // nacks say nothing about it).
                renew.nacked = renew.nacked || (!c->ack && c->delivery_tag >= renew.starts.back());
                // A `multiple` confirm covers its own channel's earlier tags only.
                auto end = c->multiple ? p.by_tag.upper_bound(c->delivery_tag) : p.by_tag.find(c->delivery_tag);
                auto begin = c->multiple ? p.by_tag.lower_bound(renew.channel_start(c->delivery_tag)) : end;
                if (!c->multiple && end != p.by_tag.end()) {
                    end->second(status);
                    p.by_tag.erase(end);
                } else if (c->multiple) {
                    for (auto it = begin; it != end; ++it) {
                        it->second(status);
                    }
                    p.by_tag.erase(begin, end);
                }
            } else if (auto* r = std::get_if<returned_message>(&e)) {
                if (on_return_) {
                    on_return_(std::move(*r));
                }
            }
            // Deliveries do not happen on a publishing connection. No complete frame left in
            // rabbitmq-c's buffer: back to ppoll() rather than a recv() that finds nothing.
            if (!conn.has_buffered_input()) {
                return true;
            }
        }
    };

    // Multiplexed chunks held until the gate opens (broker/chunk_mux.hpp).
    chunk_mux mux{chunk_message_max_bytes_};
    flush_gate gate{chunk_flush_interval_};
    std::vector<outgoing_message> held;
    bool holds_chunks = false;  // pending::holds_chunks, without an atomic load per chunk
    auto write_held = [&]() -> bool {
        held.clear();
        const auto frames = mux.frames();
        mux.take(held);
        gate.flushed(std::chrono::steady_clock::now(), frames);
        for (auto& m : held) {
            if (auto tag = conn.publish(m); !tag) {
                log->warn("msg=\"publish failed\" publisher={} error=\"{}\"", name_, tag.error().message);
                return false;  // the chunks are lost with the connection, as written ones would be
            }
            published_since_read = true;
        }
        return true;
    };

    for (;;) {
        if (stopping_ && stop_deadline == std::chrono::steady_clock::time_point{}) {
            stop_deadline = std::chrono::steady_clock::now() + drain_;
        }
        if (stopping_ && !mux.empty() && !write_held()) {
            return;
        }
        if (stopping_ && (p.by_tag.empty() || std::chrono::steady_clock::now() >= stop_deadline) &&
            queue_.size() == 0) {
            return;
        }
        // Chunks held and not yet due: wait for the gate (and the socket, and a stream's first
        // chunk, and while one stream is served the end of its answer), not for the queue.
        const auto now = std::chrono::steady_clock::now();
        const bool holding = !mux.empty() && !gate.due(now);
        const bool watch_answer_end = holding && gate.lone_stream(mux.frames());
        // The socket is left alone for a while after a read when no job waits on a confirm: see
        // idle_read_interval.
        const bool watch_socket = stopping_ || !published_since_read || !p.by_tag.empty() || renew.nacked ||
                                  now - last_read >= idle_read_interval;
        pollfd fds[4] = {{watch_socket ? conn.fd() : -1, POLLIN, 0},
                         {pending_->first_chunk_fd, POLLIN, 0},
                         {watch_answer_end ? pending_->answer_end_fd : -1, POLLIN, 0},
                         {queue_.fd(), POLLIN, 0}};
        timespec timeout{};
        if (!conn.has_buffered_input()) {
            auto wait = holding     ? gate.due_at() - now
                        : stopping_ ? std::chrono::steady_clock::duration{std::chrono::milliseconds{50}}
                                    : std::chrono::steady_clock::duration{std::chrono::seconds{1}};
            if (!watch_socket) {
                wait = std::min(wait, last_read + idle_read_interval - now);
            }
            auto ns = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count());
            timeout = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
        }
        int n = ::ppoll(fds, holding ? 3 : 4, &timeout, nullptr);
        if (n < 0 && errno != EINTR) {
            return;
        }
        const bool first_chunk = (fds[1].revents & POLLIN) != 0;
        const bool answer_end = (fds[2].revents & POLLIN) != 0;
        for (auto [fired, fd] :
             {std::pair{first_chunk, pending_->first_chunk_fd}, std::pair{answer_end, pending_->answer_end_fd}}) {
            if (fired) {
                std::uint64_t v = 0;
                [[maybe_unused]] auto r = ::read(fd, &v, sizeof v);
            }
        }
        const bool drain_now = first_chunk || answer_end ||
                               (holding ? gate.due(std::chrono::steady_clock::now()) : (fds[3].revents & POLLIN) != 0);
        if (drain_now) {
            batch.clear();
            queue_.drain(batch);
            plan_batch(batch, carrier);
            merge_planned(batch, carrier);
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (carrier[i] != i) {
                    continue;  // merged into an earlier chunk, or a stop entry
                }
                auto& j = batch[i].job;
                if (j.multiplex) {
                    mux.add(std::move(j));
                    if (!holds_chunks) {
                        holds_chunks = true;
                        pending_->holds_chunks.store(true, std::memory_order_relaxed);
                    }
                    continue;
                }
                // Held chunks go first: a stream's final must not overtake them.
                const bool held_written = mux.empty() || write_held();
                auto tag = held_written ? conn.publish(j.msg) : result<std::uint64_t>{fail("broker_unavailable", "")};
                if (!tag) {
                    if (held_written) {
                        log->warn("msg=\"publish failed\" publisher={} error=\"{}\"", name_, tag.error().message);
                    }
                    // Fail this job and the ones not yet written.
                    for (std::size_t k = i; k < batch.size(); ++k) {
                        if (carrier[k] == k && batch[k].job.done) {
                            batch[k].job.done(publish_status::broker_unavailable);
                        }
                    }
                    return;
                }
                published_since_read = true;
                if (j.done) {
                    p.by_tag.emplace(tag.value(), std::move(j.done));
                }
            }
        }
        if (!mux.empty() && (mux.holds_first_chunk() || gate.due(std::chrono::steady_clock::now())) && !write_held()) {
            return;
        }
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) || conn.has_buffered_input() || n == 0) {
            if (!handle_events() || !renew_after_nack(conn, renew)) {
                return;
            }
        }
    }
}

}  // namespace llmp::broker
