#pragma once
// relay_generation: the part of every generation route that does not depend on the API
// flavour. On the request's connection strand:
//   model served? -> ids, deadline -> register a response_sink -> publish (await the confirm;
//   refused -> 503) -> relay the worker's events through the renderer until done, error,
//   deadline, worker loss, client disconnect or shutdown -> unregister.
// When the client goes away or the deadline passes, a cancel is published on the control
// exchange so the worker stops generating (and frees the GPU).

#include "api/context.hpp"
#include "api/stream_renderer.hpp"
#include "http/server.hpp"

namespace llmp::api {

/// `m` comes validated from the flavour's parser (model, messages/prompt, options, stream).
net::awaitable<void> relay_generation(context& ctx, http_server::request_context& rc, request_message m,
                                      stream_renderer& out);

}  // namespace llmp::api
