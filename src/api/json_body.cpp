#include "api/json_body.hpp"

#include "common/json_limits.hpp"

namespace llmp::api {

result<nlohmann::json> parse_json_object(std::string_view body) {
    if (body.empty()) {
        return fail("bad_request", "missing request body: send a JSON object");
    }
    auto j = parse_json_bounded(body, max_request_json_depth);
    if (!j) {
        return fail("invalid_json", "request body is " + j.error().message);
    }
    if (!j.value().is_object()) {
        return fail("invalid_json", "request body must be a JSON object");
    }
    return j;
}

}  // namespace llmp::api
