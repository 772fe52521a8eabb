// Embedding requests from clients (POST /v1/embeddings, /ollama/api/embed and the legacy
// /ollama/api/embeddings) and embedding answers from upstreams (POST /api/embed, /embeddings):
// each input is tried as all five. An accepted request holds its texts in order (strings, at
// most max_embedding_inputs, never streamed), survives the broker and the worker's policy, gives
// both upstream bodies, is stored by the audit, and is answered in its door's shape with one
// vector per text, in order (OpenAI's base64 as float32). An upstream answer that parses holds
// a list of vectors.
#include "fuzz_check.hpp"

#include "api/embedding_renderer.hpp"
#include "api/embedding_request_parser.hpp"
#include "audit/record.hpp"
#include "common/base64.hpp"
#include "common/messages.hpp"
#include "providers/ollama/ollama_wire.hpp"
#include "providers/openai/openai_wire.hpp"
#include "providers/upstream_policy.hpp"

#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::json;
using namespace llmp;

void follow(api::embedding_request r, api::embedding_flavour flavour) {
    auto& m = r.msg;
    LLMP_FUZZ_CHECK(m.kind == request_kind::embed && !m.stream, "an embedding request that is not an embed");
    LLMP_FUZZ_CHECK(m.input.is_array() && !m.input.empty() && m.input.size() <= api::max_embedding_inputs,
                    "an accepted embedding request without 1..max texts");
    for (const auto& t : m.input) {
        LLMP_FUZZ_CHECK(t.is_string(), "an accepted text that is not a string");
    }
    m.request_id = "req_fuzz";
    m.server_id = "api-fuzz";
    m.received_at_ms = 1'700'000'000'000;
    const std::string body = encode(m);
    auto decoded = decode_request(body);
    LLMP_FUZZ_CHECK(decoded.has_value(), "an accepted embedding request does not decode at the worker");
    LLMP_FUZZ_CHECK(
        decoded.value().input == m.input && decoded.value().extra == m.extra && decoded.value().options == m.options,
        "the worker decodes other texts or fields than the API encoded");
    auto g = providers::generation_request_of(decoded.value());
    if (providers::apply_upstream_policy(g, providers::upstream_policy{}, false)) {
        auto ollama_body = json::parse(providers::ollama::embed_request_body(g));
        LLMP_FUZZ_CHECK(ollama_body["input"] == m.input, "Ollama's body holds other texts");
        auto openai_body = json::parse(providers::openai::embed_request_body(g, "upstream-model"));
        LLMP_FUZZ_CHECK(openai_body["input"] == m.input, "the OpenAI body holds other texts");
    }
    broker::delivery d;
    d.routing_key = "request";
    d.body = body;
    LLMP_FUZZ_CHECK(audit::decode_record(audit::source::requests, d, 1'700'000'000'001).has_value(),
                    "an accepted embedding request cannot be stored by the audit");

    // The answer: one vector per text, as the worker's final carries them.
    final_message f;
    f.prompt_tokens = static_cast<std::int64_t>(m.input.size());
    for (std::size_t i = 0; i < m.input.size(); ++i) {
        f.embeddings.push_back(json::array({static_cast<double>(i), -0.5, 0.25}));
    }
    auto renderer = api::make_embedding_renderer(flavour, r.base64, m.model);
    auto res = renderer->complete(f, "", {m.request_id, 1.5, 2.5});
    auto reply = json::parse(res.body());
    if (flavour == api::embedding_flavour::openai) {
        LLMP_FUZZ_CHECK(reply["data"].size() == m.input.size(), "OpenAI's reply has another number of vectors");
        for (std::size_t i = 0; i < m.input.size(); ++i) {
            const auto& item = reply["data"][i];
            LLMP_FUZZ_CHECK(item["index"] == i, "OpenAI's reply is out of order");
            if (r.base64) {
                auto bytes = base64_decode(item["embedding"].get<std::string>());
                LLMP_FUZZ_CHECK(bytes && bytes->size() == 3 * sizeof(float), "a base64 vector that is not 3 floats");
            } else {
                LLMP_FUZZ_CHECK(item["embedding"] == f.embeddings[i], "a float vector changed on its way");
            }
        }
    } else if (flavour == api::embedding_flavour::ollama) {
        LLMP_FUZZ_CHECK(reply["embeddings"] == f.embeddings, "Ollama's reply holds other vectors");
    } else {
        LLMP_FUZZ_CHECK(reply["embedding"] == f.embeddings[0], "the legacy reply holds another vector");
    }
    (void)renderer->failure({"model_not_found", "model '" + m.model + "' is not served by any live worker"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace llmp;
    auto text = fuzz::as_text(data, size);
    if (auto r = api::parse_openai_embedding_request(text); r) {
        follow(std::move(r.value()), api::embedding_flavour::openai);
    }
    if (auto r = api::parse_ollama_embedding_request(text, false); r) {
        follow(std::move(r.value()), api::embedding_flavour::ollama);
    }
    if (auto r = api::parse_ollama_embedding_request(text, true); r) {
        follow(std::move(r.value()), api::embedding_flavour::ollama_legacy);
    }
    // The same bytes as an upstream's answer.
    if (auto c = providers::ollama::parse_embed_response(text); c) {
        LLMP_FUZZ_CHECK(c.value().embeddings.is_array(), "Ollama's answer parsed without a list of vectors");
    }
    if (auto c = providers::openai::parse_embed_response(text); c) {
        LLMP_FUZZ_CHECK(c.value().embeddings.is_array(), "an OpenAI answer parsed without a list of vectors");
        auto listed = json::parse(text, nullptr, false);
        LLMP_FUZZ_CHECK(listed.is_object() && listed["data"].size() == c.value().embeddings.size(),
                        "an OpenAI answer's vectors are not one per data item");
    }
    return 0;
}
