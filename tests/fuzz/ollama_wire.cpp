// Upstream bytes from an Ollama server, as ollama_provider takes them: the NDJSON splitter, the
// simdjson line parser, the figures of the done line, the logprobs in OpenAI's shape, and what
// the worker then publishes (a final message the API and the audit must decode). The whole input is also tried as an error
// body (error_text).
#include "fuzz_check.hpp"

#include "common/json_limits.hpp"
#include "common/messages.hpp"
#include "http/ndjson_splitter.hpp"
#include "providers/error_text.hpp"
#include "providers/ollama/ollama_wire.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto input = fuzz::as_text(data, size);
    (void)providers::error_text(input);

    providers::ollama::stream_parser parser;
    final_message f;
    auto on_line = [&](std::string_view line) {
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            return;
        }
        auto parsed = parser.parse(line);
        if (!parsed || parsed.value().has_error) {
            return;
        }
        const auto& l = parsed.value();
        f.text.append(l.delta);
        if (!l.logprobs.empty()) {
            // As the provider gathers them: whatever the list holds, OpenAI's shape comes out.
            auto list = parse_json_bounded(l.logprobs, max_message_json_depth);
            for (auto& e : providers::ollama::logprobs_to_openai(list ? list.value() : nlohmann::json{})) {
                LLMP_FUZZ_CHECK(e.is_object() && e["token"].is_string() && e["logprob"].is_number() &&
                                    e["bytes"].is_array() && e["top_logprobs"].is_array(),
                                "a logprob entry not in OpenAI's shape");
                f.logprobs.push_back(std::move(e));
            }
        }
        if (l.done) {
            f.done_reason = l.done_reason.empty() ? "stop" : std::string{l.done_reason};
            f.prompt_tokens = l.prompt_eval_count.value_or(0);
            f.completion_tokens = l.eval_count.value_or(0);
            f.provider_metrics = providers::ollama::metrics_json(l);
        }
    };
    http_client::ndjson_splitter splitter;
    if (splitter.feed(input, on_line) && splitter.has_partial()) {
        std::string last{splitter.partial()};
        on_line(last);
    }
    auto back = decode_final(encode(f));
    LLMP_FUZZ_CHECK(back.has_value(), "the final message built from Ollama's lines does not decode");
    LLMP_FUZZ_CHECK(back.value().text == f.text, "the text changed on its way through the broker");
    LLMP_FUZZ_CHECK(back.value().logprobs == f.logprobs, "the logprobs changed on their way through the broker");
    return 0;
}
