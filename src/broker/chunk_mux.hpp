#pragma once
// chunk_mux: multiplexed stream chunks, the publisher thread's side. Chunk jobs marked
// `multiplex` (publish_job) are held here instead of going out one message each; take() turns
// what is held into ONE message per destination (exchange + routing key, i.e. per API server),
// whose body (common/chunk_frames.hpp) carries a frame per stream: the stream's held chunks
// merged (text appended, the last seq), in the order the streams first appeared. So the number
// of broker messages follows the number of flushes, not the number of tokens.
//
// Order: a stream's chunks keep their order (one frame, or frames in order; a chunk of another
// attempt of the same request starts a new frame). A destination's messages keep their order
// (a message that would pass `max_message_bytes` is closed and the next one opened after it).
// The publisher writes every held message before any job that is not multiplexed, so a
// stream's final or error (a message of its own) always follows its chunks.
//
// The message of a destination takes its `mandatory` flag and headers (the worker id) from the
// first chunk held for it; chunks of one publisher carry the same ones.
//
// flush_gate: when the held chunks go out. At once when the last flush is at least `interval`
// old (an idle publisher adds no delay: a lone token leaves as soon as it comes); otherwise at
// last flush + interval. Under load a destination then gets at most about one message per
// interval, and no chunk waits longer than the interval. Except a stream's first chunk (seq 1,
// of any attempt): it is the client's time to first token, so the publisher flushes what is
// held at once when one is (holds_first_chunk()); that costs one extra message per stream at
// most, and the gate restarts from that flush. And the end of an answer (a final, an error)
// while the publisher serves one stream (lone_stream()): there is nothing to batch it with, and
// holding it would only delay the answer by up to an interval.
//
// Pure logic (no I/O, no locks, no clock of its own); owned by the publisher thread.

#include "broker/publisher.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llmp::broker {

class chunk_mux {
public:
    explicit chunk_mux(std::size_t max_message_bytes = 128 * 1024) : max_bytes_{max_message_bytes} {}

    /// Holds a `multiplex` chunk job: msg.exchange / routing_key = destination,
    /// props.correlation_id = request id (non-empty), body = text, job.seq / attempt / choice; or
    /// those (but the body) in *job.stream when it is set.
    void add(publish_job&& job);
    bool empty() const { return messages_.empty(); }
    /// Chunks held (jobs added since the last take).
    std::size_t chunks() const { return chunks_; }
    /// Frames held: about the streams with chunks waiting (another attempt or choice of a
    /// stream is a frame of its own).
    std::size_t frames() const { return frames_; }
    /// A stream's first chunk (seq 1) is held: flush now, not at the gate (its TTFT).
    bool holds_first_chunk() const { return first_held_; }
    /// Appends the held messages to `out` (in order) and holds nothing more.
    void take(std::vector<outgoing_message>& out);

private:
    struct frame {
        std::shared_ptr<const outgoing_message> stream;  ///< the job's, when it had one
        std::string own_id;                              ///< the request id, when it had none
        std::int64_t seq = 0;
        std::int64_t attempt = 1;
        int choice = 0;
        std::string text;
        const std::string& request_id() const { return stream ? stream->props.correlation_id : own_id; }
    };
    struct message {
        outgoing_message head;  ///< exchange, routing key, mandatory, headers; no body yet
        /// A stream's open frame is its latest one here, found by a search from the back (a
        /// message holds a few dozen frames: cheaper than a map that allocates per frame).
        std::vector<frame> frames;
        std::size_t bytes = 0;
        bool open = true;  ///< false once full: its destination's next chunks go to a later one
    };

    std::size_t max_bytes_;
    /// In write order. A linear search finds a destination's open message: there are as many
    /// destinations as API servers, a handful.
    std::vector<message> messages_;
    std::size_t chunks_ = 0;
    std::size_t frames_ = 0;
    bool first_held_ = false;
};

class flush_gate {
public:
    using clock = std::chrono::steady_clock;
    explicit flush_gate(std::chrono::microseconds interval) : interval_{interval} {}

    bool due(clock::time_point now) const { return now >= last_ + interval_; }
    clock::time_point due_at() const { return last_ + interval_; }
    /// `frames`: the frames that flush carried (chunk_mux::frames() before take()).
    void flushed(clock::time_point now, std::size_t frames) {
        last_ = now;
        last_frames_ = frames;
    }
    /// Whether the publisher serves one stream: its last flush carried at most one frame and
    /// at most `held_frames` <= 1 is held now. Then the end of an answer goes at once with what is
    /// held. The last flush is the load signal, not the held frames alone: right after any flush
    /// the publisher holds the one chunk it drained, whatever the load.
    bool lone_stream(std::size_t held_frames) const { return last_frames_ <= 1 && held_frames <= 1; }

private:
    std::chrono::microseconds interval_;
    clock::time_point last_{};
    std::size_t last_frames_ = 0;
};

}  // namespace llmp::broker
