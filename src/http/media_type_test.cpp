#include "http/media_type.hpp"

#include <gtest/gtest.h>

namespace llmp::http_server {
namespace {

TEST(media_type, json_with_any_case_and_parameters_is_json) {
    EXPECT_TRUE(is_json_media_type("application/json"));
    EXPECT_TRUE(is_json_media_type("application/json; charset=utf-8"));
    EXPECT_TRUE(is_json_media_type("Application/JSON;charset=UTF-8"));
    EXPECT_TRUE(is_json_media_type("  application/json  "));
}

TEST(media_type, what_a_web_page_can_send_cross_site_is_not_json) {
    EXPECT_FALSE(is_json_media_type(""));
    EXPECT_FALSE(is_json_media_type("text/plain"));
    EXPECT_FALSE(is_json_media_type("text/plain; charset=application/json"));
    EXPECT_FALSE(is_json_media_type("application/x-www-form-urlencoded"));
    EXPECT_FALSE(is_json_media_type("multipart/form-data; boundary=x"));
    EXPECT_FALSE(is_json_media_type("application/jsonx"));
    EXPECT_FALSE(is_json_media_type("application/json-patch+json"));
}

TEST(media_type, a_request_without_content_type_has_no_json_body) {
    request req{http::verb::post, "/api/chat", 11};
    EXPECT_FALSE(has_json_body(req));
    req.set(http::field::content_type, "application/json");
    EXPECT_TRUE(has_json_body(req));
}

}  // namespace
}  // namespace llmp::http_server
