// POST /v1/chat/completions and /v1/completions: the OpenAI parser, then everything downstream
// of it (the route's image check, request_pipeline.hpp). Each input is tried as both routes'
// body.
#include "request_pipeline.hpp"

#include "api/image_inputs.hpp"
#include "api/openai_renderer.hpp"
#include "api/openai_request_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto body = fuzz::as_text(data, size);
    for (auto kind : {request_kind::chat, request_kind::generate}) {
        auto parsed = api::parse_openai_request(body, kind);
        if (!parsed) {
            (void)api::openai_error_response(parsed.error());
            continue;
        }
        auto& r = parsed.value();
        // As openai_routes.cpp does next: data: URL images become their base64.
        if (auto images = api::check_request_images(r.msg, false); !images) {
            (void)api::openai_error_response(images.error());
            continue;
        }
        // As openai_routes.cpp builds its reply options.
        api::openai_reply_options o{kind, r.msg.stream, r.include_usage, r.msg.model};
        auto renderer = api::make_openai_renderer(o);
        fuzz::follow_accepted_request(std::move(r.msg), *renderer);
    }
    return 0;
}
