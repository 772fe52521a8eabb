#pragma once
// What "the prompt" of a request is, for providers that derive their answer from it (the mock)
// and for prompt-token estimates: the last user message of a chat, or a generate's prompt.

#include "providers/provider.hpp"

#include <string>

namespace llmp::providers {

/// Text of the last message with role "user" (string content, or the text parts of an array
/// content); for generate, the prompt.
std::string prompt_text(const generation_request& req);

/// Text of every message (chat) or the system + prompt (generate), for token estimates.
std::string all_input_text(const generation_request& req);

}  // namespace llmp::providers
