#pragma once
// sse_reader: the client side of Server-Sent Events (WHATWG rules, protocols.md §3): cuts a
// byte stream into events, the way the OpenAI SDKs read a streamed completion.
//
// Feed it byte slices exactly as they come off the socket. Lines end in LF, CRLF or a lone CR
// (a CR at the end of one slice and an LF at the start of the next are one line end). A line
// starting with ':' is a comment; "field: value" loses one leading space of the value; `data`
// lines accumulate (joined with LF); `event` sets the event name; `id`, `retry` and unknown
// fields are ignored. A blank line dispatches the event if any data line was seen; at EOF an
// event without its blank line is not dispatched (has_partial() tells the caller it was cut).
// A leading UTF-8 BOM is dropped.
//
// The event's views are valid only during the callback. An event (or a line) longer than the
// limit is an error ("line_too_long"), so a peer cannot make us buffer without bound.
//
// Not thread-safe: one reader per stream, used by the one strand that reads that stream.

#include "common/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace llmp::http_client {

struct sse_event {
    std::string_view event;  ///< the `event:` name, "" when none was sent ("message")
    std::string_view data;   ///< the data lines joined with '\n'
};

class sse_reader {
public:
    static constexpr std::size_t default_max_event = std::size_t{16} * 1024 * 1024;

    explicit sse_reader(std::size_t max_event = default_max_event) : max_event_{max_event} {}

    /// Calls on_event(const sse_event&) for every event completed by `bytes`. After a failure
    /// the reader is unusable until reset().
    template <class OnEvent>
    result<void> feed(std::string_view bytes, OnEvent&& on_event);

    /// True if an unterminated line or an undispatched event is pending (at EOF: cut short).
    bool has_partial() const { return !line_.empty() || has_data_; }

    void reset();

private:
    /// Handles one complete line; returns true if it dispatches an event.
    bool take_line(std::string_view line);
    result<void> too_long() const;

    std::size_t max_event_;
    std::string line_;   ///< the current line, when it spans slices
    std::string data_;   ///< data buffer of the pending event
    std::string event_;  ///< event name of the pending event
    bool has_data_ = false;
    bool after_cr_ = false;  ///< the last slice ended in CR: a leading LF is part of that line end
    bool started_ = false;   ///< the BOM check is done
};

template <class OnEvent>
result<void> sse_reader::feed(std::string_view bytes, OnEvent&& on_event) {
    if (!started_ && !bytes.empty()) {
        // A BOM can itself be split across slices; collect up to 3 bytes before deciding.
        constexpr std::string_view bom = "\xEF\xBB\xBF";
        std::size_t have = line_.size();
        std::size_t take = std::min(bom.size() - have, bytes.size());
        line_.append(bytes.substr(0, take));
        if (bom.substr(0, line_.size()) != line_) {
            // Not a BOM: the collected bytes are ordinary line bytes; go on with the rest.
            started_ = true;
            std::string head = std::move(line_);
            line_.clear();
            auto r = feed(head, on_event);
            if (!r) {
                return r;
            }
            return feed(bytes.substr(take), on_event);
        }
        bytes.remove_prefix(take);
        if (line_.size() < bom.size()) {
            return ok();
        }
        line_.clear();
        started_ = true;
    }
    while (!bytes.empty()) {
        if (after_cr_) {
            after_cr_ = false;
            if (bytes.front() == '\n') {
                bytes.remove_prefix(1);
                continue;
            }
        }
        auto end = bytes.find_first_of("\r\n");
        if (end == std::string_view::npos) {
            if (line_.size() + bytes.size() > max_event_) {
                return too_long();
            }
            line_.append(bytes);
            return ok();
        }
        std::string_view line;
        if (line_.empty()) {
            line = bytes.substr(0, end);
        } else {
            line_.append(bytes.substr(0, end));
            line = line_;
        }
        if (line.size() > max_event_) {
            return too_long();
        }
        bool crlf = bytes[end] == '\r' && end + 1 < bytes.size() && bytes[end + 1] == '\n';
        if (bytes[end] == '\r' && end + 1 == bytes.size()) {
            after_cr_ = true;
        }
        bool dispatch = take_line(line);
        line_.clear();
        if (data_.size() > max_event_) {
            return too_long();
        }
        if (dispatch) {
            std::string_view data{data_};
            if (!data.empty()) {
                data.remove_suffix(1);  // the LF after the last data line
            }
            on_event(sse_event{event_, data});
            data_.clear();
            event_.clear();
            has_data_ = false;
        }
        bytes.remove_prefix(end + (crlf ? 2 : 1));
    }
    return ok();
}

}  // namespace llmp::http_client
