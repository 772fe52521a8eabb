// Broker bytes at the audit: decode_record for every queue and routing key the audit consumes,
// with the simdjson fast path (audit/fast_decode.hpp) held to the nlohmann reference decoder —
// where the fast path takes a message, both must give the same row — and every row formatted for
// COPY as the writer does.
#include "fuzz_check.hpp"

#include "audit/copy_format.hpp"
#include "audit/fast_decode.hpp"
#include "audit/record.hpp"

#include <nlohmann/json.hpp>

namespace {

using namespace llmp;
using nlohmann::json;

json as_json(const std::optional<std::string>& s) {
    return s ? json::parse(*s) : json{};
}

bool same(const audit::request_row& a, const audit::request_row& b) {
    return a.request_id == b.request_id && a.received_at_ms == b.received_at_ms && a.server_id == b.server_id &&
           a.api_flavour == b.api_flavour && a.route == b.route && a.kind == b.kind && a.model == b.model &&
           a.stream == b.stream && a.priority == b.priority && as_json(a.messages_json) == as_json(b.messages_json) &&
           a.prompt == b.prompt && json::parse(a.options_json) == json::parse(b.options_json) &&
           json::parse(a.extra_json) == json::parse(b.extra_json) && a.client_addr == b.client_addr &&
           a.user_agent == b.user_agent && a.deadline_ms == b.deadline_ms && a.key_id == b.key_id &&
           a.key_name == b.key_name;
}

bool same(const audit::response_row& a, const audit::response_row& b) {
    return a.request_id == b.request_id && a.status == b.status && a.server_id == b.server_id &&
           a.worker_id == b.worker_id && a.provider == b.provider && a.model == b.model &&
           a.done_reason == b.done_reason && a.text == b.text && a.prompt_tokens == b.prompt_tokens &&
           a.completion_tokens == b.completion_tokens && a.ttft_ms == b.ttft_ms && a.duration_ms == b.duration_ms &&
           a.tokens_per_s == b.tokens_per_s && a.error_code == b.error_code && a.error_message == b.error_message &&
           a.retryable == b.retryable && json::parse(a.provider_metrics_json) == json::parse(b.provider_metrics_json) &&
           a.completed_at_ms == b.completed_at_ms && a.reported_by == b.reported_by && a.key_id == b.key_id &&
           a.key_name == b.key_name && a.tool_calls_json.empty() == b.tool_calls_json.empty() &&
           (a.tool_calls_json.empty() || json::parse(a.tool_calls_json) == json::parse(b.tool_calls_json));
}

void format(const audit::record& r) {
    std::string out;
    std::visit(
        [&](const auto& row) {
            using T = std::decay_t<decltype(row)>;
            if constexpr (!std::is_same_v<T, worker_heartbeat> && !std::is_same_v<T, delivery_confirmation>) {
                audit::copy_format::append_row(out, row);
            }
        },
        r);
    (void)audit::event_time_ms(r);
}

void decode_both(audit::source from, const broker::delivery& d) {
    constexpr std::int64_t arrival_ms = 1'700'000'000'000;
    auto fast = audit::decode_record(from, d, arrival_ms);
    auto reference = audit::decode_record_reference(from, d, arrival_ms);
    LLMP_FUZZ_CHECK(fast.has_value() == reference.has_value(), "the fast path and the reference disagree on success");
    if (!fast) {
        return;
    }
    const auto& a = fast.value();
    const auto& b = reference.value();
    LLMP_FUZZ_CHECK(a.index() == b.index(), "the fast path and the reference decode different record kinds");
    if (const auto* ra = std::get_if<audit::request_row>(&a)) {
        LLMP_FUZZ_CHECK(same(*ra, std::get<audit::request_row>(b)), "fast and reference request rows differ");
    } else if (const auto* sa = std::get_if<audit::response_row>(&a)) {
        LLMP_FUZZ_CHECK(same(*sa, std::get<audit::response_row>(b)), "fast and reference response rows differ");
    } else if (const auto* ca = std::get_if<audit::chunk_rows>(&a)) {
        LLMP_FUZZ_CHECK(!ca->rows.empty(), "a chunk delivery without rows");
        LLMP_FUZZ_CHECK(audit::row_count(a) == ca->rows.size(), "row_count disagrees");
    }
    format(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto body = fuzz::as_text(data, size);
    broker::delivery d;
    d.body = std::string{body};
    d.props.timestamp = 1'700'000'000;

    d.routing_key = "request";
    decode_both(audit::source::requests, d);
    d.routing_key = "worker.heartbeat";
    decode_both(audit::source::heartbeats, d);

    d.props.correlation_id = "req_fuzz";
    d.props.headers = {{"worker", std::string{"w1"}}, {"seq", std::int64_t{3}}, {"attempt", std::int64_t{1}}};
    for (const char* key : {"api-1.final", "api-1.error", "api-1.chunk", "api-1.chunks"}) {
        d.routing_key = key;
        decode_both(audit::source::responses, d);
    }
    // An API server's verdict (broker::verdict_type), routed like an error.
    d.routing_key = "api-1.error";
    d.props.type = "verdict";
    d.props.headers.emplace_back("server_id", std::string{"api-1"});
    decode_both(audit::source::responses, d);
    return 0;
}
