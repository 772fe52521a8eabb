#include "api/response_router.hpp"

#include "api/api_metrics.hpp"
#include "api/final_decode.hpp"
#include "api/logger.hpp"
#include "common/chunk_frames.hpp"

#include <vector>

namespace llmp::api {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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
    const std::string worker = broker::field_string(d.props.headers, "worker");
    std::string id;
    for (const auto& f : frames) {
        id.assign(f.request_id);
        if (auto sink = ctx.streams.find(id)) {
            sink->deliver(chunk_event{f.seq, std::string{f.text}, worker, f.choice});
        }
    }
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
    const std::string& key = d.routing_key;
    if (ends_with(key, ".chunks")) {
        route_chunk_frames(ctx, d);
        return;
    }
    auto sink = ctx.streams.find(d.props.correlation_id);
    if (!sink) {
        return;  // the stream ended (client gone); late messages are dropped
    }
    if (ends_with(key, ".chunk")) {
        // One stream's raw text: a worker running --multiplex-chunks=false (or an older one).
        if (ctx.metrics != nullptr) {
            ctx.metrics->chunk_message_received(1);
        }
        sink->deliver(chunk_event{broker::field_int(d.props.headers, "seq", 0), std::move(d.body),
                                  broker::field_string(d.props.headers, "worker"),
                                  static_cast<int>(broker::field_int(d.props.headers, "choice", 0))});
    } else if (ends_with(key, ".final")) {
        if (auto f = decode_final_message(d.body)) {
            sink->deliver(std::move(f.value()));
        } else {
            sink->deliver(error_message{"internal_error", "undecodable final message: " + f.error().message});
        }
    } else if (ends_with(key, ".error")) {
        if (auto e = decode_error(d.body)) {
            sink->deliver(std::move(e.value()));
        } else {
            sink->deliver(error_message{"internal_error", "undecodable error message"});
        }
    }
}

}  // namespace llmp::api
