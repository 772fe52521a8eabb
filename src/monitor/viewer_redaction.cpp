#include "monitor/viewer_redaction.hpp"

#include <initializer_list>
#include <string_view>

namespace llmp::monitor {
namespace {

using nlohmann::json;

json only(const json& from, std::initializer_list<std::string_view> fields) {
    if (!from.is_object()) {
        return from.is_null() ? json(nullptr) : json::object();
    }
    json out = json::object();
    for (auto f : fields) {
        auto it = from.find(f);
        if (it != from.end()) {
            out[std::string{f}] = *it;
        }
    }
    return out;
}

}  // namespace

json viewer_request_list(const json& list) {
    json out = list;
    json rows = json::array();
    if (list.contains("requests") && list["requests"].is_array()) {
        for (const auto& r : list["requests"]) {
            rows.push_back(only(r, {"request_id", "received_at_ms", "model", "kind", "route", "stream", "api_flavour",
                                    "status", "worker_id", "prompt_tokens", "completion_tokens", "ttft_ms",
                                    "duration_ms", "tokens_per_s", "error_code", "completed_at_ms"}));
        }
    }
    out["requests"] = std::move(rows);
    out["texts_hidden"] = true;
    return out;
}

json viewer_request_detail(const json& detail) {
    json out = only(detail, {"request_id", "chunks"});
    out["request"] = only(detail.value("request", json(nullptr)),
                          {"received_at_ms", "server_id", "api_flavour", "route", "kind", "model", "stream", "priority",
                           "client_addr", "user_agent", "deadline_at_ms"});
    out["response"] = only(detail.value("response", json(nullptr)),
                           {"status", "server_id", "worker_id", "provider", "model", "done_reason", "prompt_tokens",
                            "completion_tokens", "ttft_ms", "duration_ms", "tokens_per_s", "error_code", "retryable",
                            "provider_metrics", "completed_at_ms", "ingested_at_ms", "reported_by"});
    out["texts_hidden"] = true;
    return out;
}

}  // namespace llmp::monitor
