#include "api/auth.hpp"

#include "common/errc.hpp"
#include "keys/api_key.hpp"

namespace llmp::api {

namespace {

/// x-api-key's value without the blanks around it; nullopt when absent or blank.
std::optional<std::string_view> api_key_header(std::optional<std::string_view> value) {
    if (!value) {
        return std::nullopt;
    }
    auto v = *value;
    auto first = v.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    return v.substr(first, v.find_last_not_of(" \t") - first + 1);
}

}  // namespace

result<std::shared_ptr<const keys::usable_key>> authenticate(const key_ring& ring,
                                                             std::optional<std::string_view> authorization,
                                                             std::optional<std::string_view> x_api_key) {
    auto token = authorization ? keys::bearer_token(*authorization) : std::nullopt;
    if (!token) {
        token = api_key_header(x_api_key);
    }
    if (!token) {
        return fail(errc::invalid_api_key,
                    "this server needs an API key: send the header 'Authorization: Bearer <key>' "
                    "(or 'x-api-key: <key>')");
    }
    auto key = ring.find(*token);
    if (!key) {
        return fail(errc::invalid_api_key, "the API key is not valid (unknown, revoked or expired)");
    }
    if (key->role == keys::key_role::viewer) {
        return fail(errc::forbidden,
                    "the API key '" + key->name + "' is a viewer key: it reads the monitor and may not call the API");
    }
    return key;
}

std::optional<llmp::error> model_refusal(const keys::usable_key& key, std::string_view model) {
    if (!keys::model_allowed(key.allowed_models, model)) {
        return make_error(errc::model_not_allowed,
                          "the API key '" + key.name + "' may not use model '" + std::string{model} + "'");
    }
    return std::nullopt;
}

std::optional<llmp::error> auth_refusal(const key_ring* ring, std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> model,
                                        std::optional<std::string_view> x_api_key) {
    if (ring == nullptr) {
        return std::nullopt;
    }
    auto key = authenticate(*ring, authorization, x_api_key);
    if (!key) {
        return key.error();
    }
    if (model) {
        return model_refusal(*key.value(), *model);
    }
    return std::nullopt;
}

}  // namespace llmp::api
