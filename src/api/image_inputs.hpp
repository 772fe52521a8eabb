#pragma once
// image_inputs: the images of a request as every front door hands them on — Ollama's shape, a
// list of base64 strings (`messages[].images`, and `images` of a generate request) — checked
// before the request is queued, so a refusal is a 400 before any stream starts:
//  - a data: URL (what OpenAI clients send, and some Ollama clients) becomes its base64 payload;
//  - a remote URL (http:, https:, file:, any scheme) is refused unless the operator allows
//    remote images (--allow-remote-images): an upstream that fetches it (vLLM does) would make
//    requests on the client's behalf from inside the network (server-side request forgery);
//  - anything else must be base64 (Ollama answers 400 to anything else, after the queue).
// The worker's upstream policy checks remote URLs again (providers/upstream_policy.hpp).
// Pure functions, any thread.

#include "common/messages.hpp"
#include "common/result.hpp"

namespace llmp::api {

/// Normalizes and checks `m`'s images in place as above; invalid_field (400) on a refusal.
result<void> check_request_images(request_message& m, bool allow_remote);

/// True when `s` names something to fetch (a scheme such as http:, https:, file:) rather than
/// carrying the data.
bool is_remote_image(std::string_view s);

}  // namespace llmp::api
