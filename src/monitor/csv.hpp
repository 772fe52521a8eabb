#pragma once
// csv: RFC 4180 text for the monitor's exports (/api/usage/daily.csv). A field is quoted when it
// holds a comma, a double quote, CR or LF (quotes doubled inside); every line ends with CRLF. A
// text field that a spreadsheet would run as a formula (starting with = + - @ TAB or CR) gets a
// leading apostrophe first (OWASP's advice against CSV injection): key names are typed by
// operators, the file is opened by whoever does the billing. Numbers go through as they are.
// Pure functions; any thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace llmp::monitor::csv {

/// Appends `text` as one field (quoted and guarded as above), without a separator.
void append_text(std::string& out, std::string_view text);
/// Appends an integer field.
void append_number(std::string& out, std::int64_t v);
/// Appends the field separator.
inline void comma(std::string& out) {
    out.push_back(',');
}
/// Ends the line (CRLF, as RFC 4180 has it).
inline void end_line(std::string& out) {
    out.append("\r\n");
}

}  // namespace llmp::monitor::csv
