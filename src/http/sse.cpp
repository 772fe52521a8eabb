#include "http/sse.hpp"

namespace llmp::sse {

void append_event(std::string& out, std::string_view event, std::string_view data, std::string_view id) {
    if (!event.empty()) {
        out.append("event: ").append(event).push_back('\n');
    }
    if (!id.empty()) {
        out.append("id: ").append(id).push_back('\n');
    }
    std::size_t start = 0;
    for (;;) {
        std::size_t end = data.find_first_of("\r\n", start);
        out.append("data: ").append(data.substr(start, end == std::string_view::npos ? end : end - start));
        out.push_back('\n');
        if (end == std::string_view::npos) {
            break;
        }
        start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
        if (start > data.size()) {
            break;
        }
    }
    out.push_back('\n');
}

void append_comment(std::string& out, std::string_view text) {
    out.append(": ").append(text).append("\n\n");
}

}  // namespace llmp::sse
