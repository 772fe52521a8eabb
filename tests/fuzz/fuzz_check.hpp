#pragma once
// What the fuzz targets share: a check that is always on (a broken invariant aborts, and
// libFuzzer saves the input as a crash), and the ways one input is cut into slices as a socket
// might deliver it. Test code only; each target is one LLVMFuzzerTestOneInput.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define LLMP_FUZZ_CHECK(cond, what)                                                                           \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            std::fprintf(stderr, "fuzz check failed: %s (%s) at %s:%d\n", (what), #cond, __FILE__, __LINE__); \
            std::abort();                                                                                     \
        }                                                                                                     \
    } while (0)

namespace llmp::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// `input` cut three ways: whole, byte by byte, and in uneven slices (lengths 1..61 from a
/// generator seeded by the input's length). A streaming parser must see the same thing in all.
inline std::vector<std::vector<std::string_view>> slicings(std::string_view input) {
    std::vector<std::vector<std::string_view>> out(3);
    out[0].push_back(input);
    for (std::size_t i = 0; i < input.size(); ++i) {
        out[1].push_back(input.substr(i, 1));
    }
    std::uint32_t state = static_cast<std::uint32_t>(input.size()) * 2654435761u + 1;
    for (std::size_t i = 0; i < input.size();) {
        state = state * 1103515245u + 12345u;
        std::size_t n = 1 + (state >> 16) % 61;
        out[2].push_back(input.substr(i, n));
        i += n;
    }
    return out;
}

}  // namespace llmp::fuzz
