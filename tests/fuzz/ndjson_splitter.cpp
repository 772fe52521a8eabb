// Upstream bytes (Ollama's streamed answer): the NDJSON splitter must cut the same lines, and fail
// on the same line, however the bytes are sliced. Run with a small line limit too, so the
// limit's edges are reached by small inputs.
#include "fuzz_check.hpp"

#include "http/ndjson_splitter.hpp"

#include <string>

namespace {

struct outcome {
    std::vector<std::string> lines;
    bool failed = false;
    std::string partial;
    bool operator==(const outcome&) const = default;
};

outcome split(const std::vector<std::string_view>& slices, std::size_t max_line) {
    llmp::http_client::ndjson_splitter s{max_line};
    outcome o;
    for (auto slice : slices) {
        auto r = s.feed(slice, [&](std::string_view line) { o.lines.emplace_back(line); });
        if (!r) {
            o.failed = true;
            return o;
        }
    }
    o.partial = std::string{s.partial()};
    LLMP_FUZZ_CHECK(s.has_partial() == !o.partial.empty(), "has_partial() disagrees with partial()");
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto input = fuzz::as_text(data, size);
    auto cuts = fuzz::slicings(input);
    for (std::size_t max_line : {std::size_t{32}, http_client::ndjson_splitter::default_max_line}) {
        auto whole = split(cuts[0], max_line);
        for (const auto& line : whole.lines) {
            LLMP_FUZZ_CHECK(line.size() <= max_line, "a line longer than the limit was passed on");
            LLMP_FUZZ_CHECK(line.find('\n') == std::string::npos, "a line holds a newline");
        }
        for (std::size_t i = 1; i < cuts.size(); ++i) {
            LLMP_FUZZ_CHECK(split(cuts[i], max_line) == whole, "slicing the bytes changed the lines");
        }
    }
    return 0;
}
