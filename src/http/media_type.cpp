#include "http/media_type.hpp"

#include "common/ascii.hpp"

#include <cctype>

namespace llmp::http_server {

bool is_json_media_type(std::string_view v) {
    auto is_space = [](char c) { return c == ' ' || c == '\t'; };
    while (!v.empty() && is_space(v.front())) {
        v.remove_prefix(1);
    }
    v = v.substr(0, v.find(';'));
    while (!v.empty() && is_space(v.back())) {
        v.remove_suffix(1);
    }
    constexpr std::string_view json = "application/json";
    return equals_nocase(v, json);
}

bool has_json_body(const request& req) {
    auto it = req.find(http::field::content_type);
    return it != req.end() && is_json_media_type(it->value());
}

}  // namespace llmp::http_server
