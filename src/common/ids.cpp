#include "common/ids.hpp"

#include <unistd.h>

#include <array>
#include <cstdint>
#include <random>

namespace llmp {
namespace {

std::mt19937_64& rng() {
    thread_local std::mt19937_64 engine{[] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }()};
    return engine;
}

constexpr char hex_digits[] = "0123456789abcdef";

}  // namespace

std::string new_uuid() {
    std::array<std::uint8_t, 16> b{};
    std::uint64_t hi = rng()();
    std::uint64_t lo = rng()();
    for (int i = 0; i < 8; ++i) {
        b[i] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
        b[8 + i] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        out.push_back(hex_digits[b[i] >> 4]);
        out.push_back(hex_digits[b[i] & 0x0f]);
    }
    return out;
}

std::string new_component_id(std::string_view prefix) {
    std::string out{prefix};
    out.push_back('-');
    std::uint64_t v = rng()();
    for (int i = 0; i < 12; ++i) {
        out.push_back(hex_digits[(v >> (4 * i)) & 0x0f]);
    }
    return out;
}

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return "unknown";
    }
    return std::string{buf.data()};
}

}  // namespace llmp
