// POST /ollama/api/chat and /ollama/api/generate. The Ollama routes have no parser of their own:
// ollama_routes.cpp hands the body to the native parse_generation_request, marks it "ollama"
// and answers through the Ollama renderer and error shape. This target does the same, so it
// differs from native_request only in what is rendered.
#include "request_pipeline.hpp"

#include "api/ollama_renderer.hpp"
#include "api/native_request_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto body = fuzz::as_text(data, size);
    for (auto kind : {request_kind::chat, request_kind::generate}) {
        auto parsed = api::parse_generation_request(body, kind);
        if (!parsed) {
            (void)api::ollama_error_response(parsed.error());
            continue;
        }
        auto& m = parsed.value();
        m.api_flavour = "ollama";
        auto renderer = api::make_ollama_renderer(kind, m.stream, m.model);
        fuzz::follow_accepted_request(std::move(m), *renderer);
    }
    return 0;
}
