// The one error table (common/errc.hpp) walked through the three front doors: for every code,
// each door's reply has the table's status and Retry-After, and its body carries the code (or,
// for Ollama, whose errors are a message alone, the message) in the door's shape, whole or
// streamed, whatever the error's own retryable flag says.
#include "api/native_renderer.hpp"

#include "api/ollama_renderer.hpp"
#include "api/openai_renderer.hpp"
#include "common/errc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::unique_ptr<stream_renderer> native(bool stream = false) {
    return make_native_renderer(request_kind::chat, stream);
}
std::unique_ptr<stream_renderer> openai(bool stream = false) {
    return make_openai_renderer({request_kind::chat, stream, false, "mock"});
}
std::unique_ptr<stream_renderer> ollama(bool stream = false) {
    return make_ollama_renderer(request_kind::chat, stream, "mock");
}

/// The status and Retry-After of a reply, as the table would have them.
void expect_table_status(const http_server::response& res, int status, int retry_after_s, const std::string& what) {
    EXPECT_EQ(res.result_int(), static_cast<unsigned>(status)) << what;
    if (retry_after_s > 0) {
        EXPECT_EQ(res[http::field::retry_after], std::to_string(retry_after_s)) << what;
    } else {
        EXPECT_EQ(res.find(http::field::retry_after), res.end()) << what << ": Retry-After on a code not retryable";
    }
}

/// The JSON of the one data: line of an SSE error event.
json sse_error_data(const std::string& sse) {
    auto at = sse.find("data: ");
    EXPECT_NE(at, std::string::npos) << sse;
    if (at == std::string::npos) {
        return {};
    }
    auto end = sse.find('\n', at);
    return json::parse(sse.substr(at + 6, end - at - 6));
}

TEST(error_replies, every_code_has_the_tables_status_and_retry_after_at_every_door) {
    for (const auto& row : errc_table()) {
        const std::string code{row.name};
        for (bool flag : {false, true}) {
            const std::string what = code + (flag ? " (marked retryable)" : " (marked not retryable)");
            const error e{code, "what happened: " + code, flag};

            auto n = native()->failure(e);
            expect_table_status(n, row.http_status, row.retry_after_s, "native " + what);
            EXPECT_EQ(json::parse(n.body()), json({{"error", {{"code", code}, {"message", e.message}}}})) << what;

            auto o = openai()->failure(e);
            expect_table_status(o, row.http_status, row.retry_after_s, "/v1 " + what);
            auto oe = json::parse(o.body())["error"];
            EXPECT_EQ(oe["message"], e.message) << what;
            EXPECT_TRUE(oe["param"].is_null()) << what;
            if (row.http_status == 429) {
                EXPECT_EQ(oe["code"], "rate_limit_exceeded") << what;  // what the SDKs know
                EXPECT_EQ(oe["type"], "requests") << what;
            } else {
                EXPECT_EQ(oe["code"], code) << what;
                EXPECT_EQ(oe["type"], row.http_status < 500 ? "invalid_request_error" : "server_error") << what;
            }
            bool retryable = row.retryable || flag;
            bool told_not_to_retry = o["x-should-retry"] == "false";
            EXPECT_EQ(told_not_to_retry, row.http_status >= 500 && !retryable) << what;

            auto l = ollama()->failure(e);
            expect_table_status(l, row.http_status, row.retry_after_s, "/ollama " + what);
            EXPECT_EQ(l[http::field::content_type], "application/json; charset=utf-8");
            auto lj = json::parse(l.body());
            EXPECT_EQ(lj.size(), 1u) << what;
            if (row.code == errc::model_not_found) {
                EXPECT_EQ(lj["error"], "model \"mock\" not found, try pulling it first");
            } else {
                EXPECT_EQ(lj["error"], e.message) << what;
            }
        }
    }
}

TEST(error_replies, every_code_after_the_start_is_an_error_event_in_each_doors_shape) {
    for (const auto& row : errc_table()) {
        const std::string code{row.name};
        const error_message m{code, "what happened: " + code, row.retryable};

        std::string out;
        native(true)->error(out, m);
        EXPECT_EQ(out.rfind("event: error\n", 0), 0u) << out;
        EXPECT_EQ(sse_error_data(out), json({{"code", code}, {"message", m.message}})) << code;

        out.clear();
        auto o = openai(true);
        o->start(out, request_message{});
        out.clear();
        o->error(out, m);
        auto oe = sse_error_data(out)["error"];
        EXPECT_EQ(oe["code"], code);
        EXPECT_EQ(oe["message"], m.message);

        out.clear();
        auto l = ollama(true);
        l->start(out, request_message{});
        l->error(out, m);
        EXPECT_EQ(out, json({{"error", m.message}}).dump() + "\n") << code;
    }
}

TEST(error_replies, a_code_this_build_does_not_know_is_500_or_503_when_retryable_at_every_door) {
    for (auto* make : {&native, &openai, &ollama}) {
        auto plain = (*make)(false)->failure({"code_of_a_newer_worker", "new", false});
        expect_table_status(plain, 500, 0, "unknown, not retryable");
        auto retry = (*make)(false)->failure({"code_of_a_newer_worker", "new", true});
        expect_table_status(retry, 503, unknown_retry_after_s, "unknown, retryable");
    }
    EXPECT_EQ(json::parse(native()->failure({"code_of_a_newer_worker", "new"}).body())["error"]["code"],
              "code_of_a_newer_worker");
    EXPECT_EQ(openai()->failure({"code_of_a_newer_worker", "new"})["x-should-retry"], "false");
}

}  // namespace
}  // namespace llmp::api
