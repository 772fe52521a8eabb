#pragma once
// delivery_confirmation: the message an API server sends the audit every few hundred ms with
// the ids of the requests whose worker outcome (final or error) it handed to its client
// since the last one (`type` broker::delivered_type, default exchange -> <p>.audit.responses).
// It is also the server's keep-alive towards the audit: sent empty when nothing was
// delivered, so a server whose messages stop was lost, and the audit relabels the worker
// reports of its requests it never confirmed (error `api_lost`; docs/architecture.md, Audit).
//
// Pure functions, callable from any thread.

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp {

struct delivery_confirmation {
    std::string server_id;
    std::int64_t sent_at_ms = 0;  ///< the server's clock when it published this one
    std::vector<std::string> request_ids;
    bool leaving = false;  ///< the last one of a server stopping cleanly: not lost, gone
};

std::string encode(const delivery_confirmation& m);
/// A JSON object with a non-empty `server_id`; `request_ids` an array of strings (absent =
/// none). Anything else is malformed_message.
result<delivery_confirmation> decode_delivery_confirmation(std::string_view body);

}  // namespace llmp
