#pragma once
// sha256: the one SHA-256 of the tree (OpenSSL's one-shot EVP digest), for API key hashes
// (keys/api_key) and the audit's image digests (audit/image_digest). Pure, any thread.

#include <string>
#include <string_view>

namespace llmp {

/// Lowercase hex SHA-256 of `bytes` (64 characters).
std::string sha256_hex(std::string_view bytes);

}  // namespace llmp
