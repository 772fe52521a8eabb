#pragma once
// cursor: the position in the request history for keyset paging. The history is ordered by
// (received_at, request_id) descending; a cursor is the last row of a page, and the next page
// holds the rows strictly before it. Encoded as "<unix-microseconds>_<request-id>" (URL-safe:
// request ids are [A-Za-z0-9_-]), so a page boundary never skips or repeats a row, even when
// rows are added meanwhile. Pure; any thread.

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace llmp::monitor {

struct cursor {
    std::int64_t received_us = 0;  ///< received_at in microseconds since the epoch (PostgreSQL precision)
    std::string request_id;

    std::string encode() const;
    static result<cursor> decode(std::string_view text);
};

}  // namespace llmp::monitor
