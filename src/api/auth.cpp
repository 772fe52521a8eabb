#include "api/auth.hpp"

#include "common/errc.hpp"
#include "keys/api_key.hpp"

namespace llmp::api {

std::optional<llmp::error> auth_refusal(const key_ring* ring, std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> model) {
    if (ring == nullptr) {
        return std::nullopt;
    }
    auto token = authorization ? keys::bearer_token(*authorization) : std::nullopt;
    if (!token) {
        return make_error(errc::invalid_api_key,
                          "this server needs an API key: send the header 'Authorization: Bearer <key>'");
    }
    auto key = ring->find(*token);
    if (!key) {
        return make_error(errc::invalid_api_key, "the API key is not valid (unknown, revoked or expired)");
    }
    if (key->role == keys::key_role::viewer) {
        return make_error(errc::forbidden, "the API key '" + key->name +
                                               "' is a viewer key: it reads the monitor and may not call the API");
    }
    if (model && !keys::model_allowed(key->allowed_models, *model)) {
        return make_error(errc::model_not_allowed,
                          "the API key '" + key->name + "' may not use model '" + std::string{*model} + "'");
    }
    return std::nullopt;
}

std::shared_ptr<const keys::usable_key> presented_key(const key_ring* ring,
                                                      std::optional<std::string_view> authorization) {
    if (ring == nullptr || !authorization) {
        return nullptr;
    }
    auto token = keys::bearer_token(*authorization);
    return token ? ring->find(*token) : nullptr;
}

}  // namespace llmp::api
