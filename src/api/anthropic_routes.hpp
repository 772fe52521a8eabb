#pragma once
// The Anthropic Messages API route: POST /v1/messages.
// Generations go through the same relay (queue, workers, cancel, deadlines, keys and limits) as
// every other door; only the parsing (anthropic_request_parser) and the bytes
// (anthropic_renderer) are Anthropic's. The key may come as `x-api-key` (what Anthropic's SDKs
// send) or `Authorization: Bearer` (api/auth.hpp); `anthropic-version` and `anthropic-beta`
// are accepted and not looked at: there is one version of this door.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

void add_anthropic_routes(http_server::router& routes, context& ctx);

}  // namespace llmp::api
