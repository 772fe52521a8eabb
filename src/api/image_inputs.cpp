#include "api/image_inputs.hpp"

#include "common/ascii.hpp"
#include "common/base64.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace llmp::api {
namespace {

using json = nlohmann::json;

result<void> check_images(json& images, const std::string& where, bool allow_remote) {
    if (!images.is_array()) {
        return fail("invalid_field", where + " must be an array of base64-encoded images");
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
        auto& img = images[i];
        const auto at = where + "[" + std::to_string(i) + "]";
        if (!img.is_string()) {
            return fail("invalid_field", at + " must be a string (base64-encoded image data)");
        }
        auto& s = img.get_ref<std::string&>();
        if (starts_with_nocase(s, "data:")) {
            auto comma = s.find(',');
            if (comma == std::string::npos || s.rfind(";base64", comma) == std::string::npos) {
                return fail("invalid_field", at + " must be a base64 data: URL (data:image/png;base64,...)");
            }
            s.erase(0, comma + 1);
        } else if (is_remote_image(s)) {
            if (allow_remote) {
                continue;
            }
            return fail("invalid_field",
                        at + " is a remote URL: this proxy passes images only as data: URLs or "
                             "base64 (the operator can allow remote images with --allow-remote-images)");
        }
        if (s.empty() || !base64_decode(s)) {
            return fail("invalid_field", at + " is not base64-encoded image data");
        }
    }
    return ok();
}

}  // namespace

bool is_remote_image(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    if (starts_with_nocase(s, "data:")) {
        return false;
    }
    // Base64 has no ':'; anything with a scheme before one is a URL.
    auto colon = s.find(':');
    return colon != std::string_view::npos && colon > 0 &&
           std::all_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
           });
}

result<void> check_request_images(request_message& m, bool allow_remote) {
    if (m.messages.is_array()) {
        for (std::size_t i = 0; i < m.messages.size(); ++i) {
            auto& msg = m.messages[i];
            if (!msg.is_object()) {
                continue;
            }
            if (auto images = msg.find("images"); images != msg.end() && !images->is_null()) {
                auto r = check_images(*images, "messages[" + std::to_string(i) + "].images", allow_remote);
                if (!r) {
                    return r;
                }
            }
        }
    }
    if (m.extra.is_object()) {
        if (auto images = m.extra.find("images"); images != m.extra.end() && !images->is_null()) {
            return check_images(*images, "images", allow_remote);
        }
    }
    return ok();
}

}  // namespace llmp::api
