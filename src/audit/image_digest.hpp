#pragma once
// image_digest: what the audit keeps of a request's images. The bytes (base64 in Ollama's
// `images`, `messages[].images` of a chat) would make every vision request a row of megabytes
// that nobody reads; each image becomes {"sha256": "<hex of the decoded bytes>", "bytes": <decoded
// size>} instead, enough to tell which picture was sent and how large it was (and to match it
// against a file). A remote URL (allowed by the operator) stays as it is: it is not the data.
// `llmproxy audit --audit-image-bytes` keeps the bytes. Pure functions, any thread (OpenSSL's
// one-shot digest is thread-safe).

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace llmp::audit {

/// Replaces each image of `messages` (a chat's messages[].images) and `extra` (a generate
/// request's images) by its digest object, in place.
void digest_images(nlohmann::json& messages, nlohmann::json& extra);

}  // namespace llmp::audit
