#include "providers/error_text.hpp"

#include <nlohmann/json.hpp>

namespace llmp::providers {

std::string shorten(std::string_view text, std::size_t max) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    if (text.size() <= max) {
        return std::string{text};
    }
    return std::string{text.substr(0, max)} + "...";
}

std::string error_text(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
        if (auto it = j.find("error"); it != j.end()) {
            if (it->is_string()) {
                return it->get<std::string>();
            }
            if (it->is_object()) {
                if (auto msg = it->find("message"); msg != it->end() && msg->is_string()) {
                    return msg->get<std::string>();
                }
            }
        }
        if (auto msg = j.find("message"); msg != j.end() && msg->is_string()) {
            return msg->get<std::string>();
        }
    }
    return shorten(body);
}

}  // namespace llmp::providers
