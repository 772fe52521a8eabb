// Images from clients (messages[].images of a chat, images of a generate; OpenAI image_url data:
// URLs arrive here as their payload): check_request_images with remote images refused and
// allowed. What it accepts must hold what the rest of the system relies on: every image is
// base64 that decodes (or, only when allowed, a remote URL); the worker's upstream policy with
// the same setting accepts it too; then it follows the path of any accepted request
// (request_pipeline.hpp: broker, worker bodies, the audit's digests, the renderer).
//
// The input is either a JSON value (taken as the `images` field itself, any shape) or, when it
// does not parse, raw image strings separated by newlines.
#include "request_pipeline.hpp"

#include "api/image_inputs.hpp"
#include "api/ollama_renderer.hpp"
#include "common/base64.hpp"
#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    using json = nlohmann::json;
    auto text = fuzz::as_text(data, size);
    json images;
    if (auto parsed = parse_json_bounded(text, max_request_json_depth - 4); parsed) {
        images = std::move(parsed.value());
    } else {
        images = json::array();
        std::size_t start = 0;
        while (start <= text.size()) {
            auto end = text.find('\n', start);
            auto piece = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
            // As JSON would have carried it: valid UTF-8 (a request body's strings always are).
            auto utf8 = json(std::string{piece}).dump(-1, ' ', false, json::error_handler_t::replace);
            images.push_back(json::parse(utf8));
            if (end == std::string_view::npos) {
                break;
            }
            start = end + 1;
        }
    }
    for (bool allow_remote : {false, true}) {
        for (auto kind : {request_kind::chat, request_kind::generate}) {
            request_message m;
            m.kind = kind;
            m.model = "llava:latest";
            if (kind == request_kind::chat) {
                m.messages = json::array({json{{"role", "user"}, {"content", "what is this?"}, {"images", images}}});
            } else {
                m.prompt = "what is this?";
                m.extra["images"] = images;
            }
            auto checked = api::check_request_images(m, allow_remote);
            if (!checked) {
                LLMP_FUZZ_CHECK(checked.error().code == "invalid_field", "an image refusal that is not a 400");
                continue;
            }
            const json& kept = kind == request_kind::chat ? m.messages[0]["images"] : m.extra["images"];
            if (kept.is_array()) {
                for (const auto& img : kept) {
                    LLMP_FUZZ_CHECK(img.is_string(), "an accepted image that is not a string");
                    const auto& s = img.get_ref<const std::string&>();
                    if (api::is_remote_image(s)) {
                        LLMP_FUZZ_CHECK(allow_remote, "a remote image accepted without --allow-remote-images");
                    } else {
                        LLMP_FUZZ_CHECK(!s.empty() && base64_decode(s).has_value(),
                                        "an accepted image that is not base64");
                    }
                }
            }
            // The worker checks again with the same setting: it must not refuse what the API let
            // through (a 400 after the queue is a worse answer than one before it).
            auto g = providers::generation_request_of(m);
            providers::upstream_policy policy;
            policy.allow_remote_images = allow_remote;
            auto again = providers::apply_upstream_policy(g, policy, false);
            LLMP_FUZZ_CHECK(again.has_value(), "the worker's policy refuses images the API accepted");
            auto renderer = api::make_ollama_renderer(kind, true, m.model);
            fuzz::follow_accepted_request(std::move(m), *renderer);
        }
    }
    return 0;
}
