#include "http/error_response.hpp"

#include "common/errc.hpp"

#include <nlohmann/json.hpp>

namespace llmp::http_server {

response json_response(http::status status, const nlohmann::json& body) {
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
}

response error_response(const error& e, const nlohmann::json& body) {
    auto policy = reply_policy(e.code, e.retryable);
    auto res = json_response(static_cast<http::status>(policy.http_status), body);
    if (policy.retry_after_s > 0) {
        res.set(http::field::retry_after, std::to_string(policy.retry_after_s));
    }
    return res;
}

response error_response(const error& e) {
    return error_response(e, nlohmann::json{{"error", {{"code", e.code}, {"message", e.message}}}});
}

}  // namespace llmp::http_server
