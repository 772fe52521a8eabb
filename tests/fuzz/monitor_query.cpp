// Client bytes at the monitor: the request target's query string, the values its handlers read
// (window, bucket, cursor), and the percent coding both ways. Holds the round trips the monitor
// relies on: a cursor it encoded decodes to itself, percent_decode undoes percent_encode.
#include "fuzz_check.hpp"

#include "http/error_response.hpp"
#include "monitor/cursor.hpp"
#include "monitor/query_string.hpp"
#include "monitor/time_window.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    using namespace llmp::monitor;
    auto input = fuzz::as_text(data, size);

    // The target as it arrives ("/api/requests?..."), and the input as a bare query.
    for (const std::string& target : {std::string{input}, "/api/requests?" + std::string{input}}) {
        query_string q{target};
        for (const char* key : {"model", "status", "worker", "from", "to", "q", "limit"}) {
            (void)q.get(key);
        }
        if (auto c = q.get("cursor"); c && !c->empty()) {
            auto cur = cursor::decode(*c);
            if (!cur) {
                (void)http_server::error_response(cur.error());
            }
        }
        auto window = parse_window(q.get_or("window", "5m"));
        if (!window) {
            (void)http_server::error_response(window.error());
            continue;
        }
        auto bucket = parse_bucket(q.get_or("bucket", default_bucket(window.value()).text), window.value());
        if (!bucket) {
            (void)http_server::error_response(bucket.error());
        }
    }

    auto cur = cursor::decode(input);
    if (cur) {
        auto again = cursor::decode(cur.value().encode());
        LLMP_FUZZ_CHECK(again.has_value(), "an encoded cursor does not decode");
        LLMP_FUZZ_CHECK(
            again.value().received_us == cur.value().received_us && again.value().request_id == cur.value().request_id,
            "decode(encode(cursor)) is not the cursor");
    }
    LLMP_FUZZ_CHECK(percent_decode(percent_encode(input)) == input, "percent_decode(percent_encode(s)) is not s");
    (void)percent_decode(input);
    return 0;
}
