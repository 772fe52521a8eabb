#include "providers/request_text.hpp"

namespace llmp::providers {
namespace {

std::string content_text(const nlohmann::json& content) {
    if (content.is_string()) {
        return content.get<std::string>();
    }
    std::string out;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (part.is_object()) {
                auto t = part.find("text");
                if (t != part.end() && t->is_string()) {
                    if (!out.empty()) {
                        out += '\n';
                    }
                    out += t->get<std::string>();
                }
            }
        }
    }
    return out;
}

}  // namespace

std::string prompt_text(const generation_request& req) {
    if (req.kind == request_kind::generate) {
        return req.prompt;
    }
    if (!req.messages.is_array()) {
        return {};
    }
    for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it) {
        if (it->is_object() && it->value("role", "") == "user") {
            auto c = it->find("content");
            return c == it->end() ? std::string{} : content_text(*c);
        }
    }
    return {};
}

std::string all_input_text(const generation_request& req) {
    if (req.kind == request_kind::generate) {
        std::string out;
        if (auto s = req.extra.find("system"); s != req.extra.end() && s->is_string()) {
            out = s->get<std::string>() + "\n";
        }
        return out + req.prompt;
    }
    std::string out;
    if (req.messages.is_array()) {
        for (const auto& m : req.messages) {
            if (m.is_object()) {
                if (auto c = m.find("content"); c != m.end()) {
                    out += content_text(*c);
                    out += '\n';
                }
            }
        }
    }
    return out;
}

}  // namespace llmp::providers
