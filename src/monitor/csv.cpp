#include "monitor/csv.hpp"

namespace llmp::monitor::csv {

void append_text(std::string& out, std::string_view text) {
    const bool formula = !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' ||
                                           text[0] == '\t' || text[0] == '\r');
    const bool quote = formula || text.find_first_of(",\"\r\n") != std::string_view::npos;
    if (!quote) {
        out.append(text);
        return;
    }
    out.push_back('"');
    if (formula) {
        out.push_back('\'');
    }
    for (char c : text) {
        if (c == '"') {
            out.push_back('"');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

void append_number(std::string& out, std::int64_t v) {
    out.append(std::to_string(v));
}

}  // namespace llmp::monitor::csv
