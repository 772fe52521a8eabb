// Broker bytes: every message decoder of common/messages.hpp on every input (the API reads
// final/error, workers read requests, the API and the monitor read heartbeats). What decodes
// must encode and decode again to the same message: a message passed on is not changed by it.
#include "fuzz_check.hpp"

#include "common/messages.hpp"

namespace {

template <class Decode>
void round_trip(std::string_view body, Decode decode) {
    auto first = decode(body);
    if (!first) {
        return;
    }
    const std::string once = llmp::encode(first.value());
    auto second = decode(once);
    LLMP_FUZZ_CHECK(second.has_value(), "an encoded message does not decode");
    LLMP_FUZZ_CHECK(llmp::encode(second.value()) == once, "decode(encode(m)) is not m");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto body = fuzz::as_text(data, size);
    round_trip(body, [](std::string_view b) { return decode_request(b); });
    round_trip(body, [](std::string_view b) { return decode_final(b); });
    round_trip(body, [](std::string_view b) { return decode_error(b); });
    round_trip(body, [](std::string_view b) { return decode_heartbeat(b); });
    (void)normalize_model_name(body);
    return 0;
}
