// Upstream bytes (an OpenAI-compatible server's stream): the SSE reader must dispatch the same
// events, and fail at the same point, however the bytes are sliced (a CR at the end of one
// slice, a BOM split in two, ...). Run with a small event limit too.
#include "fuzz_check.hpp"

#include "http/sse_reader.hpp"

#include <string>
#include <utility>

namespace {

struct outcome {
    std::vector<std::pair<std::string, std::string>> events;
    bool failed = false;
    bool partial = false;
    bool operator==(const outcome&) const = default;
};

outcome read(const std::vector<std::string_view>& slices, std::size_t max_event) {
    llmp::http_client::sse_reader reader{max_event};
    outcome o;
    for (auto slice : slices) {
        auto r = reader.feed(slice, [&](const llmp::http_client::sse_event& e) {
            o.events.emplace_back(std::string{e.event}, std::string{e.data});
        });
        if (!r) {
            o.failed = true;
            return o;
        }
    }
    o.partial = reader.has_partial();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto input = fuzz::as_text(data, size);
    auto cuts = fuzz::slicings(input);
    for (std::size_t max_event : {std::size_t{48}, http_client::sse_reader::default_max_event}) {
        auto whole = read(cuts[0], max_event);
        for (const auto& [event, data] : whole.events) {
            LLMP_FUZZ_CHECK(data.size() <= max_event, "an event longer than the limit was dispatched");
        }
        for (std::size_t i = 1; i < cuts.size(); ++i) {
            LLMP_FUZZ_CHECK(read(cuts[i], max_event) == whole, "slicing the bytes changed the events");
        }
    }
    return 0;
}
