// What reading a multiplexed chunks message costs the API's consumer thread (issue 13): decodes
// one body of N frames (common/chunk_frames.hpp) many times and prints the time per message and
// per frame. Without the sinks: the decoder alone, what the binary frame format was chosen for.
//
//   llmproxy-frames-bench [frames per message] [token bytes] [iterations]
#include "common/chunk_frames.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const int frames = argc > 1 ? std::atoi(argv[1]) : 32;
    const int token_bytes = argc > 2 ? std::atoi(argv[2]) : 5;
    const long iterations = argc > 3 ? std::atol(argv[3]) : 1'000'000;
    std::string body;
    llmp::begin_chunk_frames(body);
    for (int i = 0; i < frames; ++i) {
        // Request ids as the API makes them: "req_" + 24 characters.
        char id[32];
        std::snprintf(id, sizeof id, "req_%024d", i);
        llmp::append_chunk_frame(body, id, 17 + i, 1, std::string(static_cast<std::size_t>(token_bytes), 'x'));
    }
    std::vector<llmp::chunk_frame_view> out;
    std::size_t check = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) {
        if (!llmp::decode_chunk_frames(body, out)) {
            return 1;
        }
        check += out.size() + out.back().text.size();
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%d frames of %d-byte tokens, %zu-byte message: %.1f ns per message, %.1f ns per frame (%zu)\n", frames,
                token_bytes, body.size(), ns / static_cast<double>(iterations),
                ns / static_cast<double>(iterations) / frames, check % 10);
    return 0;
}
