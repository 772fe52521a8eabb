#pragma once
// response_router: what the API server's consumer thread does with each delivery.
//   responses exchange: chunks (frames of many streams, common/chunk_frames.hpp) -> each
//                       stream's sink; chunk / final / error of one stream -> its sink
//   control exchange:   worker heartbeats -> the worker registry
// Runs on the consumer thread; never blocks. It decodes the message and finds the streams
// there, then makes ONE post per message to `ctx.responses_handoff` (a strand of the
// io_context), where each event enters its stream's strand (response_sink::deliver_dispatched:
// inline when that strand is free). A multiplexed message with frames for 60 streams thus costs
// one cross-thread wake-up, not 60. Every message passes through that one strand in the order
// the broker delivered it, so a stream's final never overtakes its chunks. Without a hand-off
// executor (tests) each event is posted to its stream's strand directly.

#include "api/context.hpp"
#include "broker/message.hpp"

namespace llmp::api {

void route_delivery(context& ctx, broker::delivery&& d);

}  // namespace llmp::api
