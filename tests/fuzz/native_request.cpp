// POST /api/chat and /api/generate: the native parser, then everything downstream of it
// (request_pipeline.hpp). Each input is tried as both routes' body.
#include "request_pipeline.hpp"

#include "api/native_renderer.hpp"
#include "api/native_request_parser.hpp"
#include "http/error_response.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto body = fuzz::as_text(data, size);
    for (auto kind : {request_kind::chat, request_kind::generate}) {
        auto parsed = api::parse_generation_request(body, kind);
        if (!parsed) {
            (void)http_server::error_response(parsed.error());
            continue;
        }
        auto renderer = api::make_native_renderer(kind, parsed.value().stream);
        fuzz::follow_accepted_request(std::move(parsed.value()), *renderer);
    }
    return 0;
}
