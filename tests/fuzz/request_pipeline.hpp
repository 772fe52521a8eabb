#pragma once
// The path a client's body takes after its route's parser accepted it, as far as it is pure
// code: the relay encodes it for the broker; a worker decodes it and builds the upstream body for
// Ollama and for OpenAI-compatible servers; the audit decodes the same message into a row; the
// renderer of the route echoes the model (and any text) back to the client. Every step must
// take whatever the parser let through: a rejected request is the parser's job, not theirs.

#include "fuzz_check.hpp"

#include "api/stream_renderer.hpp"
#include "audit/record.hpp"
#include "common/messages.hpp"
#include "providers/ollama/ollama_wire.hpp"
#include "providers/openai/openai_wire.hpp"
#include "providers/upstream_policy.hpp"

#include <string>

namespace llmp::fuzz {

inline void follow_accepted_request(request_message m, api::stream_renderer& renderer) {
    // What the relay adds before publishing.
    m.request_id = "req_fuzz";
    m.server_id = "api-fuzz";
    m.received_at_ms = 1'700'000'000'000;
    m.route = "/fuzz";
    m.client_addr = "127.0.0.1";
    m.user_agent = "fuzz";
    const std::string body = encode(m);

    // The worker.
    auto decoded = decode_request(body);
    LLMP_FUZZ_CHECK(decoded.has_value(), "a request the parser accepted does not decode at the worker");
    const auto& w = decoded.value();
    LLMP_FUZZ_CHECK(w.model == m.model && w.kind == m.kind && w.prompt == m.prompt && w.stream == m.stream &&
                        w.priority == m.priority && w.timeout_ms == m.timeout_ms,
                    "the worker decodes other fields than the API encoded");
    LLMP_FUZZ_CHECK(w.messages == m.messages && w.options == m.options && w.extra == m.extra,
                    "the worker decodes other JSON than the API encoded");
    // As the worker does: the operator's policy first (default flags), then the upstream bodies.
    auto g = providers::generation_request_of(w);
    if (providers::apply_upstream_policy(g, providers::upstream_policy{}, /*keep_mock_options=*/false)) {
        LLMP_FUZZ_CHECK(g.max_tokens >= 1, "the policy left no generation cap");
        (void)providers::ollama::request_body(g);
        (void)providers::openai::request_body(g, "upstream-model");
    }

    // The audit's copy of the request.
    broker::delivery d;
    d.routing_key = "request";
    d.body = body;
    auto row = audit::decode_record(audit::source::requests, d, 1'700'000'000'001);
    LLMP_FUZZ_CHECK(row.has_value(), "a request the parser accepted cannot be stored by the audit");

    // The answer, echoing what the client sent.
    std::string out;
    renderer.start(out, m);
    renderer.token(out, m.prompt.empty() ? std::string_view{"token"} : std::string_view{m.prompt}, 1);
    final_message f;
    f.text = m.prompt;
    f.model = m.model;
    f.completion_tokens = 1;
    api::relay_timings t{m.request_id, 1.5, 2.5};
    renderer.done(out, f, t);
    error_message e{"provider_error", "upstream said no: " + m.model};
    renderer.error(out, e);
    renderer.keepalive(out);
    (void)renderer.complete(f, f.text, t);
    (void)renderer.failure({"model_not_found", "model '" + m.model + "' is not served by any live worker"});
}

}  // namespace llmp::fuzz
