#pragma once
// query_string: the parameters of a request target ("/api/x?a=1&b=%20"), percent-decoded
// ('+' is a space, as browsers send form values). Pure; any thread.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::monitor {

class query_string {
public:
    /// Parses everything after the first '?' of `target` (nothing if there is none).
    explicit query_string(std::string_view target);

    /// The value of `key` (the last one if repeated); nullopt when absent.
    std::optional<std::string> get(std::string_view key) const;
    /// The value, or `fallback` when absent or empty.
    std::string get_or(std::string_view key, std::string_view fallback) const;

private:
    std::map<std::string, std::string, std::less<>> values_;
};

/// "%41+b" -> "A b". Invalid escapes are kept as they are.
std::string percent_decode(std::string_view s);
/// Path component encoding for URLs we build ("/" -> "%2F").
std::string percent_encode(std::string_view s);

}  // namespace llmp::monitor
