#include "http/sse_reader.hpp"

namespace llmp::http_client {

void sse_reader::reset() {
    line_.clear();
    data_.clear();
    event_.clear();
    has_data_ = false;
    after_cr_ = false;
    started_ = false;
}

bool sse_reader::take_line(std::string_view line) {
    if (line.empty()) {
        if (has_data_) {
            return true;
        }
        event_.clear();  // an event without data is not dispatched; its buffers are reset
        return false;
    }
    if (line.front() == ':') {
        return false;  // comment (keep-alive)
    }
    auto colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
    }
    if (field == "data") {
        data_.append(value);
        data_.push_back('\n');
        has_data_ = true;
    } else if (field == "event") {
        event_.assign(value);
    }
    return false;
}

result<void> sse_reader::too_long() const {
    return fail("line_too_long", "server-sent event longer than " + std::to_string(max_event_) + " bytes");
}

}  // namespace llmp::http_client
