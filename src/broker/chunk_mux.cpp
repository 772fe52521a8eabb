#include "broker/chunk_mux.hpp"

#include "common/chunk_frames.hpp"

namespace llmp::broker {
namespace {

/// Bytes a frame adds to a body, near enough for the size bound (varints at their longest).
std::size_t frame_cost(std::size_t id, std::size_t text) {
    return id + text + 4 * 10;
}

}  // namespace

void chunk_mux::add(publish_job&& job) {
    auto& m = job.msg;
    // The stream's destination and id: shared by its chunks, or this job's own.
    const outgoing_message& dest = job.stream ? *job.stream : m;
    const std::string& id = dest.props.correlation_id;
    const auto cost = frame_cost(id.size(), m.body.size());
    message* msg = nullptr;
    for (auto& held : messages_) {
        if (held.open && held.head.routing_key == dest.routing_key && held.head.exchange == dest.exchange) {
            if (held.bytes + cost > max_bytes_) {
                held.open = false;
            } else {
                msg = &held;
            }
            break;
        }
    }
    if (msg == nullptr) {
        message fresh;
        if (job.stream) {
            fresh.head.exchange = dest.exchange;
            fresh.head.routing_key = dest.routing_key;
            fresh.head.props.headers = dest.props.headers;
        } else {
            fresh.head.exchange = std::move(m.exchange);
            fresh.head.routing_key = std::move(m.routing_key);
            fresh.head.props.headers = std::move(m.props.headers);
        }
        fresh.head.mandatory = dest.mandatory;
        fresh.head.props.content_type = std::string{chunk_frames_content_type};
        msg = &messages_.emplace_back(std::move(fresh));
    }
    msg->bytes += cost;
    ++chunks_;
    first_held_ = first_held_ || job.seq == 1;
    // The stream's latest frame in this message (the same stream object, or the same id).
    for (auto f = msg->frames.rbegin(); f != msg->frames.rend(); ++f) {
        if ((job.stream && f->stream == job.stream) || f->request_id() == id) {
            if (f->attempt == job.attempt && f->choice == job.choice) {
                f->text += m.body;
                f->seq = job.seq;
                msg->bytes -= cost - m.body.size();  // merged: only the text is added
                return;
            }
            break;  // another attempt or choice of the request: a new frame after it
        }
    }
    auto& fr = msg->frames.emplace_back();
    ++frames_;
    if (job.stream) {
        fr.stream = std::move(job.stream);
    } else {
        fr.own_id = std::move(m.props.correlation_id);
    }
    fr.seq = job.seq;
    fr.attempt = job.attempt;
    fr.choice = job.choice;
    fr.text = std::move(m.body);
}
void chunk_mux::take(std::vector<outgoing_message>& out) {
    for (auto& msg : messages_) {
        auto& o = out.emplace_back(std::move(msg.head));
        begin_chunk_frames(o.body);
        o.body.reserve(msg.bytes + 3);
        for (const auto& f : msg.frames) {
            append_chunk_frame(o.body, f.request_id(), f.seq, f.attempt, f.text, f.choice);
        }
    }
    messages_.clear();
    chunks_ = 0;
    frames_ = 0;
    first_held_ = false;
}

}  // namespace llmp::broker
