#include "monitor/cursor.hpp"

#include <charconv>

namespace llmp::monitor {

std::string cursor::encode() const {
    return std::to_string(received_us) + "_" + request_id;
}

result<cursor> cursor::decode(std::string_view text) {
    auto bad = [&] {
        return fail("invalid_field", "cursor is not one this server returned: \"" + std::string{text} + "\"");
    };
    auto sep = text.find('_');
    if (sep == std::string_view::npos || sep == 0 || sep + 1 >= text.size()) {
        return bad();
    }
    cursor c;
    auto [end, ec] = std::from_chars(text.data(), text.data() + sep, c.received_us);
    if (ec != std::errc{} || end != text.data() + sep) {
        return bad();
    }
    c.request_id = std::string{text.substr(sep + 1)};
    for (char ch : c.request_id) {
        bool okc = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                   ch == '_' || ch == '.' || ch == ':';
        if (!okc) {
            return bad();
        }
    }
    return c;
}

}  // namespace llmp::monitor
