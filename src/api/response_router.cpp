#include "api/response_router.hpp"

#include "api/logger.hpp"

namespace llmp::api {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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
    auto sink = ctx.streams.find(d.props.correlation_id);
    if (!sink) {
        return;  // the stream ended (client gone); late messages are dropped
    }
    const std::string& key = d.routing_key;
    if (ends_with(key, ".chunk")) {
        sink->deliver(chunk_event{broker::field_int(d.props.headers, "seq", 0), std::move(d.body),
                                  broker::field_string(d.props.headers, "worker")});
    } else if (ends_with(key, ".final")) {
        if (auto f = decode_final(d.body)) {
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
