// POST /v1/messages: the Anthropic parser, then everything downstream of it
// (request_pipeline.hpp), streamed and whole.
#include "request_pipeline.hpp"

#include "api/anthropic_renderer.hpp"
#include "api/anthropic_request_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto parsed = api::parse_anthropic_request(fuzz::as_text(data, size));
    if (!parsed) {
        (void)api::anthropic_error_response(parsed.error());
        return 0;
    }
    // As anthropic_routes.cpp builds its reply options.
    api::anthropic_reply_options o{parsed.value().stream, parsed.value().model};
    auto renderer = api::make_anthropic_renderer(o);
    fuzz::follow_accepted_request(std::move(parsed.value()), *renderer);
    return 0;
}
