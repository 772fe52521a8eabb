#include "audit/image_digest.hpp"

#include "common/base64.hpp"
#include "common/sha256.hpp"

#include <array>
#include <stdexcept>

namespace llmp::audit {
namespace {

using json = nlohmann::json;

void digest_list(json& images) {
    if (!images.is_array()) {
        return;
    }
    for (auto& img : images) {
        if (!img.is_string()) {
            continue;
        }
        auto bytes = base64_decode(img.get_ref<const std::string&>());
        if (!bytes) {
            continue;  // a URL (allowed remote image) or data the API let through: kept as sent
        }
        img = json{{"sha256", sha256_hex(*bytes)}, {"bytes", bytes->size()}};
    }
}

}  // namespace

void digest_images(json& messages, json& extra) {
    if (messages.is_array()) {
        for (auto& m : messages) {
            if (m.is_object()) {
                if (auto it = m.find("images"); it != m.end()) {
                    digest_list(*it);
                }
            }
        }
    }
    if (extra.is_object()) {
        if (auto it = extra.find("images"); it != extra.end()) {
            digest_list(*it);
        }
    }
}

}  // namespace llmp::audit
