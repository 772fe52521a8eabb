// POST /v1/responses: the Responses API parser, then everything downstream of it
// (request_pipeline.hpp) with the extra.responses record the route adds, and the Response object
// a GET would rebuild from it.
#include "request_pipeline.hpp"

#include "api/openai_renderer.hpp"
#include "api/responses_objects.hpp"
#include "api/responses_renderer.hpp"
#include "api/responses_request_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto body = fuzz::as_text(data, size);
    auto parsed = api::parse_responses_request(body);
    if (!parsed) {
        (void)api::openai_error_response(parsed.error());
        return 0;
    }
    auto& r = parsed.value();
    // As responses_routes.cpp completes the request before the relay.
    api::name_tool_results(r.msg.messages);
    r.msg.extra["responses"] = {{"echo", r.echo}, {"input", r.input_items}, {"store", r.store}};
    api::response_head head{"req_fuzz", 1'700'000'000, r.msg.model, r.echo};
    (void)api::response_object(head, api::response_outcome{}).dump();
    api::responses_reply_options o;
    o.stream = r.msg.stream;
    o.model = r.msg.model;
    o.echo = r.echo;
    auto renderer = api::make_responses_renderer(std::move(o));
    fuzz::follow_accepted_request(std::move(r.msg), *renderer);
    return 0;
}
