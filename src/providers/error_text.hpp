#pragma once
// What an upstream said when it failed, as text for an error message: the Ollama and the
// OpenAI-compatible wire formats (and their providers' non-200 answers) share it.
// Pure functions; any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace llmp::providers {

/// `text` without trailing blanks, cut at `max` characters ("..." appended): an upstream's
/// body can be anything, and an error message must stay readable in a log line.
std::string shorten(std::string_view text, std::size_t max = 300);

/// The message of an error body: {"error":"..."} (Ollama), {"error":{"message":...}} (OpenAI),
/// or {"message":...}; else the body itself, shortened.
std::string error_text(std::string_view body);

}  // namespace llmp::providers
