#pragma once
// ndjson_splitter: cuts a byte stream into lines for NDJSON (Ollama's streaming format).
//
// Feed it byte slices exactly as they come off the socket; it hands back each complete line
// (without the '\n', and without a '\r' before it) as soon as its newline arrives, and keeps
// the unterminated tail for the next slice. A line longer than the limit is an error, so a
// peer that never sends '\n' cannot make us buffer without bound.
//
// Lines are passed as string_views that are valid only during the callback. When no tail is
// pending they point straight into the fed slice, so the common case copies nothing.
//
// Not thread-safe: one splitter per stream, used by the one strand that reads that stream.

#include "common/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace llmp::http_client {

class ndjson_splitter {
public:
    static constexpr std::size_t default_max_line = std::size_t{16} * 1024 * 1024;

    explicit ndjson_splitter(std::size_t max_line = default_max_line) : max_line_{max_line} {}

    /// Calls on_line(std::string_view) for every line completed by `bytes`. Fails (code
    /// "line_too_long") once a line exceeds the limit; the splitter is then unusable until
    /// reset(). Empty lines are passed on too: skipping them is the caller's choice.
    template <class OnLine>
    result<void> feed(std::string_view bytes, OnLine&& on_line);

    /// True if bytes after the last '\n' are pending (at EOF this means a truncated line).
    bool has_partial() const { return !tail_.empty(); }

    /// The pending bytes after the last '\n'.
    std::string_view partial() const { return tail_; }

    void reset() { tail_.clear(); }

private:
    static std::string_view strip_cr(std::string_view line) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        return line;
    }

    result<void> too_long() const;

    std::size_t max_line_;
    std::string tail_;
};

template <class OnLine>
result<void> ndjson_splitter::feed(std::string_view bytes, OnLine&& on_line) {
    while (!bytes.empty()) {
        auto nl = bytes.find('\n');
        if (nl == std::string_view::npos) {
            if (tail_.size() + bytes.size() > max_line_) {
                return too_long();
            }
            tail_.append(bytes);
            return ok();
        }
        if (tail_.empty()) {
            if (nl > max_line_) {
                return too_long();
            }
            on_line(strip_cr(bytes.substr(0, nl)));
        } else {
            if (tail_.size() + nl > max_line_) {
                return too_long();
            }
            tail_.append(bytes.substr(0, nl));
            on_line(strip_cr(std::string_view{tail_}));
            tail_.clear();
        }
        bytes.remove_prefix(nl + 1);
    }
    return ok();
}

}  // namespace llmp::http_client
