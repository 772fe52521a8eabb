#include "api/response_router.hpp"

#include "api/api_metrics.hpp"
#include "api/logger.hpp"
#include "common/chunk_frames.hpp"

#include <boost/asio/post.hpp>

#include <memory>
#include <utility>
#include <vector>

namespace llmp::api {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// The events of one broker message, each with the sink it goes to.
using handoff_batch = std::vector<std::pair<std::shared_ptr<response_sink>, sink_input>>;

/// One post for the whole batch (see the header); without a hand-off executor, one per event.
void hand_over(context& ctx, handoff_batch&& batch) {
    if (batch.empty()) {
        return;
    }
    if (!ctx.responses_handoff) {
        for (auto& [sink, ev] : batch) {
            sink->deliver(std::move(ev));
        }
        return;
    }
    net::post(ctx.responses_handoff, [batch = std::move(batch)]() mutable {
        for (auto& [sink, ev] : batch) {
            sink->deliver_dispatched(std::move(ev));
        }
    });
}

/// A multiplexed chunks message: each frame to its stream's sink (frames of streams that have
/// ended here are dropped, like late single messages).
void route_chunk_frames(context& ctx, const broker::delivery& d) {
    thread_local std::vector<chunk_frame_view> frames;  // the consumer thread's, reused
    if (auto r = decode_chunk_frames(d.body, frames); !r) {
        // Not from a worker of ours: nothing in it can be trusted to belong to a stream.
        api::logger()->warn("msg=\"undecodable chunks message dropped\" error=\"{}\"", r.error().message);
        return;
    }
    if (ctx.metrics != nullptr) {
        ctx.metrics->chunk_message_received(frames.size());
    }
    // One copy of the worker id for every frame of the message.
    const worker_ref worker{broker::field_string(d.props.headers, "worker")};
    handoff_batch batch;
    batch.reserve(frames.size());
    std::string id;
    for (const auto& f : frames) {
        id.assign(f.request_id);
        if (auto sink = ctx.streams.find(id)) {
            batch.emplace_back(std::move(sink), chunk_event{f.seq, std::string{f.text}, worker});
        }
    }
    hand_over(ctx, std::move(batch));
}

/// A message of one stream: its event to its sink.
void route_single(context& ctx, broker::delivery&& d) {
    auto sink = ctx.streams.find(d.props.correlation_id);
    if (!sink) {
        return;  // the stream ended (client gone); late messages are dropped
    }
    const std::string& key = d.routing_key;
    handoff_batch batch;
    if (ends_with(key, ".chunk")) {
        // One stream's raw text: a worker running --multiplex-chunks=false (or an older one).
        if (ctx.metrics != nullptr) {
            ctx.metrics->chunk_message_received(1);
        }
        batch.emplace_back(std::move(sink), chunk_event{broker::field_int(d.props.headers, "seq", 0), std::move(d.body),
                                                        worker_ref{broker::field_string(d.props.headers, "worker")}});
    } else if (ends_with(key, ".final")) {
        if (auto f = decode_final(d.body)) {
            batch.emplace_back(std::move(sink), std::move(f.value()));
        } else {
            batch.emplace_back(std::move(sink),
                               error_message{"internal_error", "undecodable final message: " + f.error().message});
        }
    } else if (ends_with(key, ".error")) {
        if (auto e = decode_error(d.body)) {
            batch.emplace_back(std::move(sink), std::move(e.value()));
        } else {
            batch.emplace_back(std::move(sink), error_message{"internal_error", "undecodable error message"});
        }
    }
    hand_over(ctx, std::move(batch));
}

}  // namespace

void route_delivery(context& ctx, broker::delivery&& d) {
    if (d.exchange == ctx.topo.control_exchange) {
        if (auto hb = decode_heartbeat(d.body)) {
            ctx.workers.update(hb.value());
        } else {
            api::logger()->warn("msg=\"bad heartbeat\" error=\"{}\"", hb.error().message);
        }
        return;
    }
    if (ends_with(d.routing_key, ".chunks")) {
        route_chunk_frames(ctx, d);
        return;
    }
    route_single(ctx, std::move(d));
}

}  // namespace llmp::api
