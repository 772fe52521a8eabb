#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

#include <unordered_map>

namespace llmp::http_server {

response json_response(http::status status, const nlohmann::json& body) {
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
}

response json_error(http::status status, std::string_view code, std::string_view message) {
    nlohmann::json body{{"error", {{"code", code}, {"message", message}}}};
    auto res = json_response(status, body);
    if (status == http::status::service_unavailable || status == http::status::too_many_requests) {
        res.set(http::field::retry_after, "1");
    }
    return res;
}

http::status status_for(const error& e) {
    static const std::unordered_map<std::string, http::status> table{
        {"bad_request", http::status::bad_request},
        {"invalid_json", http::status::bad_request},
        {"missing_field", http::status::bad_request},
        {"invalid_field", http::status::bad_request},
        {"model_not_found", http::status::not_found},
        {"not_found", http::status::not_found},
        {"method_not_allowed", http::status::method_not_allowed},
        {"payload_too_large", http::status::payload_too_large},
        {"unsupported_media_type", http::status::unsupported_media_type},
        {"too_many_connections", http::status::too_many_requests},
        {"overloaded", http::status::service_unavailable},
        {"queue_full", http::status::service_unavailable},
        {"broker_unavailable", http::status::service_unavailable},
        {"no_workers", http::status::service_unavailable},
        {"timeout", http::status::gateway_timeout},
        {"upstream_timeout", http::status::gateway_timeout},
        {"upstream_error", http::status::bad_gateway},
        {"upstream_unavailable", http::status::bad_gateway},
        {"provider_error", http::status::bad_gateway},
        // openai provider: the upstream's own limits and refusals
        {"upstream_rate_limited", http::status::too_many_requests},
        {"upstream_auth_failed", http::status::bad_gateway},
        {"upstream_bad_request", http::status::bad_gateway},
    };
    auto it = table.find(e.code);
    return it == table.end() ? http::status::internal_server_error : it->second;
}

response error_response(const error& e) {
    return json_error(status_for(e), e.code, e.message);
}

}  // namespace llmp::http_server
