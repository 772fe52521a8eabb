#pragma once
// Base64 (RFC 4648 §4, the standard alphabet with '=' padding): image data in requests (Ollama's
// `images`, data: URLs), embedding vectors as OpenAI's encoding_format "base64". Pure functions,
// any thread.

#include <optional>
#include <string>
#include <string_view>

namespace llmp {

std::string base64_encode(std::string_view bytes);

/// The bytes of `text`, or nullopt when it is not base64 (a character outside the alphabet,
/// padding anywhere but the end, a length that no encoding has). Padding may be left off.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace llmp
