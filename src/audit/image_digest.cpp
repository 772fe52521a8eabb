#include "audit/image_digest.hpp"

#include "common/base64.hpp"

#include <openssl/evp.h>

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

std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    // EVP_Digest with SHA-256 cannot fail for in-memory input short of allocation failure.
    if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error{"OpenSSL EVP_Digest(SHA-256) failed"};
    }
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

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
