// Broker bytes at the API (and the chunk audit, and a worker reading a returned message): a
// multiplexed chunks body (common/chunk_frames.hpp). decode_chunk_frames must refuse what it
// cannot read without reading past the body or throwing; every frame it accepts stays inside
// the body and within the limits, and what it accepted encodes and decodes to the same frames.
#include "fuzz_check.hpp"

#include "common/chunk_frames.hpp"

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    const auto body = fuzz::as_text(data, size);
    std::vector<chunk_frame_view> frames;
    if (!decode_chunk_frames(body, frames)) {
        LLMP_FUZZ_CHECK(frames.empty(), "a refused body left frames behind");
        return 0;
    }
    LLMP_FUZZ_CHECK(!frames.empty(), "an accepted body without frames");
    const char* const begin = body.data();
    const char* const end = body.data() + body.size();
    std::string again;
    begin_chunk_frames(again);
    for (const auto& f : frames) {
        LLMP_FUZZ_CHECK(f.request_id.data() >= begin && f.request_id.data() + f.request_id.size() <= end,
                        "a request id outside the body");
        LLMP_FUZZ_CHECK(f.text.data() >= begin && f.text.data() + f.text.size() <= end, "a text outside the body");
        LLMP_FUZZ_CHECK(!f.request_id.empty() && f.request_id.size() <= max_frame_request_id, "request id length");
        LLMP_FUZZ_CHECK(f.seq >= 1 && f.attempt >= 1, "seq or attempt below 1");
        append_chunk_frame(again, f.request_id, f.seq, f.attempt, f.text);
    }
    LLMP_FUZZ_CHECK(again.size() <= body.size(), "the canonical encoding is longer than what was read");
    std::vector<chunk_frame_view> second;
    LLMP_FUZZ_CHECK(decode_chunk_frames(again, second).has_value(), "an encoded body does not decode");
    LLMP_FUZZ_CHECK(second.size() == frames.size(), "frames lost in a round trip");
    for (std::size_t i = 0; i < frames.size(); ++i) {
        LLMP_FUZZ_CHECK(second[i].request_id == frames[i].request_id && second[i].seq == frames[i].seq &&
                            second[i].attempt == frames[i].attempt && second[i].text == frames[i].text,
                        "a frame changed in a round trip");
    }
    return 0;
}
