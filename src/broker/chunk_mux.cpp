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
    const auto cost = frame_cost(m.props.correlation_id.size(), m.body.size());
    message* msg = nullptr;
    for (auto& held : messages_) {
        if (held.open && held.head.routing_key == m.routing_key && held.head.exchange == m.exchange) {
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
        fresh.head.exchange = std::move(m.exchange);
        fresh.head.routing_key = std::move(m.routing_key);
        fresh.head.mandatory = m.mandatory;
        fresh.head.props.headers = std::move(m.props.headers);
        fresh.head.props.content_type = std::string{chunk_frames_content_type};
        msg = &messages_.emplace_back(std::move(fresh));
    }
    msg->bytes += cost;
    ++chunks_;
    first_held_ = first_held_ || job.seq == 1;
    auto& id = m.props.correlation_id;
    if (auto f = msg->frame_of.find(id); f != msg->frame_of.end() && msg->frames[f->second].attempt == job.attempt) {
        auto& fr = msg->frames[f->second];
        fr.text += m.body;
        fr.seq = job.seq;
        msg->bytes -= cost - m.body.size();  // merged: only the text is added
        return;
    }
    msg->frame_of[id] = msg->frames.size();
    msg->frames.push_back(frame{std::move(id), job.seq, job.attempt, std::move(m.body)});
}
void chunk_mux::take(std::vector<outgoing_message>& out) {
    for (auto& msg : messages_) {
        auto& o = out.emplace_back(std::move(msg.head));
        begin_chunk_frames(o.body);
        o.body.reserve(msg.bytes + 3);
        for (const auto& f : msg.frames) {
            append_chunk_frame(o.body, f.request_id, f.seq, f.attempt, f.text);
        }
    }
    messages_.clear();
    chunks_ = 0;
    first_held_ = false;
}

}  // namespace llmp::broker
