#include "support/sse_parser.hpp"

namespace llmp::testing {

void sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
    for (char c : bytes) {
        if (last_was_cr_ && c == '\n') {
            last_was_cr_ = false;
            continue;  // the LF of a CRLF
        }
        last_was_cr_ = c == '\r';
        if (c == '\r' || c == '\n') {
            line(partial_, out);
            partial_.clear();
        } else {
            partial_.push_back(c);
        }
    }
}

void sse_parser::line(std::string_view l, std::vector<sse_event>& out) {
    if (l.empty()) {
        if (has_data_) {
            cur_.data = data_.substr(0, data_.size() - 1);
            cur_.id = last_id_;
            out.push_back(std::move(cur_));
        }
        cur_ = sse_event{};
        data_.clear();
        has_data_ = false;
        return;
    }
    if (l[0] == ':') {
        return;
    }
    auto colon = l.find(':');
    std::string_view field = l.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view{} : l.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') {
        value.remove_prefix(1);
    }
    if (field == "data") {
        data_.append(value).push_back('\n');
        has_data_ = true;
    } else if (field == "event") {
        cur_.event = std::string{value};
    } else if (field == "id") {
        last_id_ = std::string{value};
    }
}

}  // namespace llmp::testing
