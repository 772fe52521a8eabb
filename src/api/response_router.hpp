#pragma once
// response_router: what the API server's consumer thread does with each delivery.
//   responses exchange: chunks (frames of many streams, common/chunk_frames.hpp) -> each
//                       stream's sink; chunk / final / error of one stream -> its sink
//   control exchange:   worker heartbeats -> the worker registry
// Runs on the consumer thread; never blocks (sinks post to their strands).

#include "api/context.hpp"
#include "broker/message.hpp"

namespace llmp::api {

void route_delivery(context& ctx, broker::delivery&& d);

}  // namespace llmp::api
