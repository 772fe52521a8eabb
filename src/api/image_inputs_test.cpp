#include "api/image_inputs.hpp"

#include "api/native_request_parser.hpp"
#include "api/openai_request_parser.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

using json = nlohmann::json;

constexpr const char* png =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

TEST(image_inputs, openai_image_url_parts_become_ollama_images_beside_the_text) {
    auto body =
        json{{"model", "llava"},
             {"messages",
              {{{"role", "user"},
                {"content",
                 {{{"type", "text"}, {"text", "what is this?"}},
                  {{"type", "image_url"},
                   {"image_url", {{"url", std::string{"data:image/png;base64,"} + png}, {"detail", "low"}}}}}}}}}};
    auto r = parse_openai_request(body.dump(), request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    auto& m = r.value().msg;
    EXPECT_EQ(m.messages[0]["content"], "what is this?");
    EXPECT_EQ(m.messages[0]["images"], json::array({png}));
    EXPECT_TRUE(check_request_images(m, false));
    EXPECT_EQ(m.messages[0]["images"], json::array({png}));
}

TEST(image_inputs, a_data_url_without_base64_or_with_bad_data_is_a_400) {
    for (std::string url : {"data:image/png,rawbytes", "data:image/png;base64,@@@@", "data:image/png;base64,"}) {
        auto body = json{
            {"model", "llava"},
            {"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", url}}}}}}}}}};
        auto r = parse_openai_request(body.dump(), request_kind::chat);
        ASSERT_FALSE(r) << url;
        EXPECT_EQ(r.error().code, "invalid_field");
        EXPECT_NE(r.error().message.find("messages[0].content[0].image_url.url"), std::string::npos)
            << r.error().message;
    }
}

TEST(image_inputs, remote_urls_are_refused_unless_the_operator_allows_them) {
    for (std::string url : {"http://169.254.169.254/latest/meta-data", "https://example.com/cat.png",
                            " file:///etc/passwd", "gopher://x"}) {
        auto body = json{
            {"model", "llava"},
            {"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", url}}}}}}}}}};
        auto r = parse_openai_request(body.dump(), request_kind::chat);
        ASSERT_TRUE(r) << url;
        auto refused = check_request_images(r.value().msg, false);
        ASSERT_FALSE(refused) << url;
        EXPECT_EQ(refused.error().code, "invalid_field");
        EXPECT_NE(refused.error().message.find("--allow-remote-images"), std::string::npos);
        EXPECT_TRUE(check_request_images(r.value().msg, true)) << url;
        EXPECT_EQ(r.value().msg.messages[0]["images"][0], url);
    }
}

TEST(image_inputs, ollama_images_are_checked_and_data_urls_unwrapped) {
    auto chat = parse_generation_request(
        json{{"model", "llava"},
             {"messages",
              {{{"role", "user"}, {"content", "hi"}, {"images", {png, std::string{"data:image/png;base64,"} + png}}}}}}
            .dump(),
        request_kind::chat);
    ASSERT_TRUE(chat);
    ASSERT_TRUE(check_request_images(chat.value(), false));
    EXPECT_EQ(chat.value().messages[0]["images"], json::array({png, png}));

    auto gen = parse_generation_request(json{{"model", "llava"}, {"prompt", "hi"}, {"images", {"not base64!"}}}.dump(),
                                        request_kind::generate);
    ASSERT_TRUE(gen);
    auto bad = check_request_images(gen.value(), false);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("images[0] is not base64"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace llmp::api
