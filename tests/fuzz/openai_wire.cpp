// Upstream bytes from an OpenAI-compatible server, as openai_provider takes them: the SSE
// reader, parse_chunk on every data event but [DONE], and what the worker then publishes (a
// final message the API and the audit must decode). The whole input is also tried as an error
// body (error_text, error_code) and as a GET /models answer (model_ids).
#include "fuzz_check.hpp"

#include "common/messages.hpp"
#include "http/sse_reader.hpp"
#include "providers/error_text.hpp"
#include "providers/openai/openai_wire.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto input = fuzz::as_text(data, size);
    (void)providers::error_text(input);
    (void)providers::openai::error_code(input);
    (void)providers::openai::model_ids(input);

    final_message f;
    http_client::sse_reader reader;
    (void)reader.feed(input, [&](const http_client::sse_event& e) {
        if (e.data == "[DONE]") {
            return;
        }
        auto parsed = providers::openai::parse_chunk(e.data);
        if (!parsed || parsed.value().has_error) {
            return;
        }
        auto& c = parsed.value();
        f.text += c.delta;
        if (!c.finish_reason.empty()) {
            f.done_reason = c.finish_reason;
        }
        if (c.has_usage) {
            f.prompt_tokens = c.prompt_tokens;
            f.completion_tokens = c.completion_tokens;
            f.provider_metrics = std::move(c.usage);
        }
    });
    auto back = decode_final(encode(f));
    LLMP_FUZZ_CHECK(back.has_value(), "the final message built from the upstream's chunks does not decode");
    LLMP_FUZZ_CHECK(back.value().text == f.text, "the text changed on its way through the broker");
    return 0;
}
