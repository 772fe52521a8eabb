// The attack suite (issue 11): hostile requests thrown at a running cluster (api, two mock
// workers, audit into a scratch database; the real RabbitMQ and PostgreSQL). Each attack must get
// a defined answer — a 4xx in the flavour of its route, or a bounded normal answer — and after
// each one the system must still be whole: /healthz answers, no process died, a normal stream
// completes and the audit stores it.

#include "e2e_common.hpp"
#include "e2e_database.hpp"

#include "pg/testing/scratch_database.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;
using json = nlohmann::json;

/// Sends `bytes` on a fresh connection and reads until the server closes it, `timeout` passes,
/// or (`one_reply`) a complete reply with a Content-Length body has arrived. For requests that
/// sync_http cannot express (broken heads, HEAD, odd framing).
std::string raw_exchange(unsigned port, const std::string& bytes, std::chrono::milliseconds timeout,
                         bool one_reply = true) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return {};
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return {};
    }
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;  // the server may close early (e.g. 413): read what it said
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[16384];
    while (std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
        timeval tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        got.append(buf, static_cast<std::size_t>(n));
        if (one_reply) {
            auto head_end = got.find("\r\n\r\n");
            auto cl = got.find("Content-Length: ");
            if (cl == std::string::npos) {
                cl = got.find("content-length: ");
            }
            if (head_end != std::string::npos && cl != std::string::npos && cl < head_end) {
                auto len = std::stoul(got.substr(cl + 16));
                if (got.size() >= head_end + 4 + len) {
                    break;
                }
            }
        }
    }
    ::close(fd);
    return got;
}

/// The status code of a raw reply ("HTTP/1.1 400 ..."), 0 when there is none.
unsigned status_of(const std::string& reply) {
    if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12) {
        return 0;
    }
    return static_cast<unsigned>(std::stoul(reply.substr(9, 3)));
}

/// One cluster shared by the attacks of a test.
class attacked_cluster {
public:
    static constexpr int max_tokens = 64;

    attacked_cluster(const std::string& amqp_url, const std::string& db_url) : db_{db_url}, c_{amqp_url} {
        port_ = c_.start_api();
        // A small generation cap: accepted attacks with huge lengths end quickly, and the test
        // checks the cap holds (what an operator sets with --max-tokens).
        const std::vector<std::string> worker_args{"--max-tokens", std::to_string(max_tokens), "--mock-token-delay-us",
                                                   "200"};
        c_.start_worker(worker_args);
        c_.start_worker(worker_args);
        c_.start_audit(db_.url(), {"--batch-ms", "20"});
        ready_ = c_.wait_for_model(port_, "mock:latest");
    }

    bool ready() const { return ready_; }
    unsigned port() const { return port_; }
    cluster& processes() { return c_; }
    const scratch_database& db() const { return db_; }

    /// What a user checks after an attack: the API answers, nothing died, a normal stream
    /// completes and its request and response rows are stored.
    void expect_whole(const std::string& after) {
        SCOPED_TRACE("after attack: " + after);
        EXPECT_EQ(http_get(port_, "/healthz").status, 200u);
        for (auto* group : {&c_.apis(), &c_.workers(), &c_.audits()}) {
            for (auto& p : *group) {
                ASSERT_TRUE(p->running()) << p->name() << " died\n" << p->log().substr(0, 8000);
            }
        }
        auto results = run_concurrent_streams(port_, "/api/chat", {chat_body("mock", "a normal request", 5)}, 1);
        ASSERT_EQ(results.size(), 1u);
        const auto& r = results[0];
        ASSERT_EQ(r.status, 200u) << r.error << r.body.substr(0, 500);
        const auto* start = r.find("start");
        const auto* done = r.find("done");
        ASSERT_NE(start, nullptr) << r.body.substr(0, 500);
        ASSERT_NE(done, nullptr) << r.body.substr(0, 500);
        std::string id = json_of(start->data).value("request_id", "");
        ASSERT_FALSE(id.empty());
        EXPECT_TRUE(stored(id)) << "the audit did not store the normal request " << id << "\n"
                                << c_.logs().substr(0, 20000);
    }

    /// Whether request `id` has its request row and its response row.
    bool stored(const std::string& id) {
        return wait_until(
            [&] {
                try {
                    return db_.count("SELECT count(*) FROM requests WHERE request_id = '" + id + "'") == 1 &&
                           db_.count("SELECT count(*) FROM responses WHERE request_id = '" + id + "'") == 1;
                } catch (const std::runtime_error&) {
                    return false;  // the audit has not created its tables yet
                }
            },
            20s);
    }

private:
    scratch_database db_;
    cluster c_;
    unsigned port_ = 0;
    bool ready_ = false;
};

/// After an attack: the cluster must still be whole; once it is not, the rest of the test is noise.
#define LLMP_EXPECT_WHOLE(cluster, what)          \
    do {                                          \
        (cluster).expect_whole(what);             \
        if (::testing::Test::HasFatalFailure()) { \
            return;                               \
        }                                         \
    } while (0)

/// A rejected request: a 4xx with an error body in the route's flavour.
void expect_rejected(const http_reply& r, const std::string& target, unsigned status = 0) {
    if (status != 0) {
        EXPECT_EQ(r.status, status) << r.body.substr(0, 500);
    } else {
        EXPECT_GE(r.status, 400u) << r.body.substr(0, 500);
        EXPECT_LT(r.status, 500u) << r.body.substr(0, 500);
    }
    auto j = json_of(r.body);
    ASSERT_TRUE(j.is_object()) << "not a JSON error body: " << r.body.substr(0, 500);
    ASSERT_TRUE(j.contains("error")) << r.body.substr(0, 500);
    if (target.rfind("/ollama/", 0) == 0) {
        EXPECT_TRUE(j["error"].is_string()) << "Ollama's {\"error\": \"...\"} shape: " << r.body;
    } else if (target.rfind("/v1/", 0) == 0) {
        EXPECT_TRUE(j["error"].is_object() && j["error"].contains("message") && j["error"].contains("type"))
            << "OpenAI's error object: " << r.body;
    } else {
        EXPECT_TRUE(j["error"].is_object() && j["error"].contains("code") && j["error"].contains("message"))
            << "the native error shape: " << r.body;
    }
}

const std::vector<std::string> chat_routes{"/api/chat", "/v1/chat/completions", "/ollama/api/chat"};

/// A chat body for `route` with `messages` replaced by the raw JSON text `messages_json`.
std::string chat_with(const std::string& extra_json, const std::string& messages_json = {}) {
    std::string msgs = messages_json.empty() ? R"([{"role":"user","content":"hi"}])" : messages_json;
    std::string body = R"({"model":"mock","stream":false,"messages":)" + msgs;
    if (!extra_json.empty()) {
        body += "," + extra_json;
    }
    return body + "}";
}

std::string nested(std::size_t depth, char open = '[', char close = ']') {
    return std::string(depth, open) + std::string(depth, close);
}

TEST(attack_e2e, deep_nesting_is_rejected_everywhere_it_can_be_sent) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    attacked_cluster a{amqp_url, db_url};
    ASSERT_TRUE(a.ready()) << a.processes().logs();
    const std::string deep = nested(200000);  // 400 KB: well inside the body limit
    std::string deep_object;
    for (int i = 0; i < 100000; ++i) {
        deep_object += R"({"a":)";
    }
    deep_object += "1" + std::string(100000, '}');
    for (const auto& route : chat_routes) {
        SCOPED_TRACE(route);
        expect_rejected(http_post(a.port(), route, deep), route, 400);
        expect_rejected(http_post(a.port(), route, chat_with(R"("options":)" + deep_object)), route, 400);
        expect_rejected(http_post(a.port(), route, chat_with({}, R"([{"role":"user","content":)" + deep + "}]")), route,
                        400);
        expect_rejected(http_post(a.port(), route, chat_with(R"("format":)" + deep)), route, 400);
        LLMP_EXPECT_WHOLE(a, "deep nesting on " + route);
    }
    // Nesting just inside the limit is an ordinary request (forwarded as sent, stored by the audit).
    std::string ok_format = "1";
    for (int i = 0; i < 30; ++i) {
        ok_format = R"({"a":)" + ok_format + "}";
    }
    auto ok = http_post(a.port(), "/api/chat", chat_with(R"("format":)" + ok_format));
    EXPECT_EQ(ok.status, 200u) << ok.body.substr(0, 500);
    LLMP_EXPECT_WHOLE(a, "nesting of 30");
}

TEST(attack_e2e, numbers_at_every_boundary_get_a_defined_answer) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    attacked_cluster a{amqp_url, db_url};
    ASSERT_TRUE(a.ready()) << a.processes().logs();
    const std::vector<std::string> values{"0",
                                          "-1",
                                          "2147483647",
                                          "2147483648",
                                          "9007199254740993",
                                          "9223372036854775807",
                                          "18446744073709551616",
                                          "-9223372036854775808",
                                          "1e308",
                                          "-1e308",
                                          "3.5",
                                          "true",
                                          "\"5\"",
                                          "[]",
                                          "{}"};
    struct field {
        std::string route;
        std::string key;  ///< "k" or "options.k"
    };
    const std::vector<field> fields{
        {"/api/chat", "timeout_ms"},
        {"/api/chat", "priority"},
        {"/api/chat", "options.num_predict"},
        {"/api/chat", "options.num_ctx"},
        {"/api/chat", "options.seed"},
        {"/api/chat", "options.temperature"},
        {"/ollama/api/chat", "options.num_predict"},
        {"/ollama/api/chat", "timeout_ms"},
        {"/v1/chat/completions", "max_tokens"},
        {"/v1/chat/completions", "max_completion_tokens"},
        {"/v1/chat/completions", "n"},
        {"/v1/chat/completions", "seed"},
        {"/v1/chat/completions", "temperature"},
        {"/v1/chat/completions", "top_p"},
        {"/v1/chat/completions", "timeout_ms"},
    };
    for (const auto& f : fields) {
        for (const auto& v : values) {
            SCOPED_TRACE(f.route + " " + f.key + "=" + v);
            std::string extra = f.key.rfind("options.", 0) == 0
                                    ? R"("options":{")" + f.key.substr(8) + R"(":)" + v + "}"
                                    : "\"" + f.key + "\":" + v;
            auto r = http_post(a.port(), f.route, chat_with(extra));
            // Either a clear 4xx in the route's flavour, or a bounded normal answer.
            if (r.status == 200) {
                auto j = json_of(r.body);
                EXPECT_TRUE(j.is_object()) << r.body.substr(0, 300);
            } else {
                expect_rejected(r, f.route);
            }
        }
        LLMP_EXPECT_WHOLE(a, f.route + " " + f.key);
    }
    // The header form of the deadline, too: beyond RabbitMQ's 2^32-1 ms expiration and int64.
    for (const std::string v : {"99999999999999", "9223372036854775807", "-5", "abc", "0"}) {
        auto r = http_request(a.port(), "POST", "/api/chat", chat_with({}),
                              {{"Content-Type", "application/json"}, {"X-Request-Timeout-Ms", v}});
        SCOPED_TRACE("X-Request-Timeout-Ms: " + v);
        if (r.status != 200) {
            expect_rejected(r, "/api/chat");
        }
    }
    LLMP_EXPECT_WHOLE(a, "X-Request-Timeout-Ms");
    // A generation length far beyond any sane cap ends, capped, instead of reserving memory.
    for (const auto& route : chat_routes) {
        std::string extra =
            route == "/v1/chat/completions" ? R"("max_tokens":2147483647)" : R"("options":{"num_predict":2147483647})";
        auto r = http_post(a.port(), route, chat_with(extra));
        SCOPED_TRACE(route + " with a huge generation length");
        ASSERT_EQ(r.status, 200u) << r.body.substr(0, 500);
        auto j = json_of(r.body);
        auto generated = route == "/v1/chat/completions" ? j["usage"]["completion_tokens"]
                         : route == "/ollama/api/chat"   ? j["eval_count"]
                                                         : j["completion_tokens"];
        ASSERT_TRUE(generated.is_number_integer()) << r.body.substr(0, 500);
        EXPECT_EQ(generated.get<int>(), attacked_cluster::max_tokens) << "the worker's cap holds";
    }
    LLMP_EXPECT_WHOLE(a, "huge generation lengths");
}

TEST(attack_e2e, hostile_strings_and_shapes_get_a_defined_answer) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    attacked_cluster a{amqp_url, db_url};
    ASSERT_TRUE(a.ready()) << a.processes().logs();
    const std::string bad_utf8 = "\xff\xfe\xc3\x28 \xed\xa0\x80";  // raw invalid UTF-8 bytes
    struct attack {
        std::string name;
        std::string body;
        bool may_succeed;                       ///< a bounded 200 is also a defined answer
        std::vector<std::string> only_on = {};  ///< route prefixes: fields only those dialects read
    };
    std::string many_messages = "[";
    for (int i = 0; i < 20000; ++i) {
        many_messages += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
    }
    many_messages += "]";
    const std::vector<attack> attacks{
        {"invalid UTF-8 in a model name",
         R"({"model":"mo)" + bad_utf8 + R"(","messages":[{"role":"user","content":"hi"}]})", false},
        {"invalid UTF-8 in content", chat_with({}, R"([{"role":"user","content":")" + bad_utf8 + R"("}])"), true},
        {"a NUL escape in content", chat_with({}, R"([{"role":"user","content":"a\u0000b"}])"), true},
        {"a NUL escape in a model name", R"({"model":"mock\u0000","messages":[{"role":"user","content":"hi"}]})",
         false},
        {"newlines in a model name",
         R"({"model":"x\n\nevent: done\ndata: {}\n\n","messages":[{"role":"user","content":"hi"}]})", false},
        {"a lone surrogate escape", chat_with({}, R"([{"role":"user","content":"\ud800"}])"), true},
        {"20,000 messages", chat_with({}, many_messages), true},
        {"duplicate keys",
         R"({"model":"mock","model":"mock","stream":false,"messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"}]})",
         true},
        {"model as a number", R"({"model":5,"messages":[{"role":"user","content":"hi"}]})", false},
        {"model as an object", R"({"model":{"a":1},"messages":[]})", false},
        {"messages as a string", R"({"model":"mock","messages":"hi"})", false},
        {"a message as a number", R"({"model":"mock","messages":[5]})", false},
        {"role as a number", R"({"model":"mock","messages":[{"role":1,"content":"hi"}]})", false},
        {"content as a number", R"({"model":"mock","messages":[{"role":"user","content":5}]})", false},
        {"stream as a string", chat_with(R"("stream":"yes")"), false},
        {"options as an array", chat_with(R"("options":[1,2])"), false, {"/api/", "/ollama/"}},
        {"response_format.type as a number", chat_with(R"("response_format":{"type":5})"), false, {"/v1/"}},
        {"response_format as a string", chat_with(R"("response_format":"json")"), false, {"/v1/"}},
        {"stop as an object", chat_with(R"("stop":{"a":1})"), false, {"/v1/"}},
        {"truncated JSON", R"({"model":"mock","messages":[{"role":"us)", false},
        {"trailing garbage", chat_with({}) + "}}}", false},
        {"a JSON array body", R"([{"model":"mock"}])", false},
        {"NaN", R"({"model":"mock","temperature":NaN,"messages":[{"role":"user","content":"hi"}]})", false},
        {"an empty body", "", false},
        {"a UTF-8 byte order mark", "\xef\xbb\xbf" + chat_with({}), true},
    };
    for (const auto& route : chat_routes) {
        for (const auto& at : attacks) {
            if (!at.only_on.empty() &&
                std::none_of(at.only_on.begin(), at.only_on.end(),
                             [&](const std::string& prefix) { return route.rfind(prefix, 0) == 0; })) {
                continue;
            }
            SCOPED_TRACE(route + ": " + at.name);
            auto r = http_post(a.port(), route, at.body);
            if (at.may_succeed && r.status == 200) {
                EXPECT_TRUE(json_of(r.body).is_object()) << r.body.substr(0, 300);
            } else {
                expect_rejected(r, route);
            }
        }
        LLMP_EXPECT_WHOLE(a, "hostile strings on " + route);
    }
    // A request that was accepted with hostile text in it is stored by the audit like any other.
    auto r = http_post(a.port(), "/api/chat", chat_with({}, R"([{"role":"user","content":"nul \u0000 and \u00ff"}])"));
    ASSERT_EQ(r.status, 200u) << r.body;
    auto id = json_of(r.body).value("request_id", "");
    ASSERT_FALSE(id.empty()) << r.body;
    EXPECT_TRUE(a.stored(id)) << a.processes().logs().substr(0, 20000);
}

TEST(attack_e2e, broken_http_gets_a_defined_answer) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    attacked_cluster a{amqp_url, db_url};
    ASSERT_TRUE(a.ready()) << a.processes().logs();
    const auto port = a.port();
    const std::string body = chat_with({});
    auto post = [&](const std::string& target, const std::string& headers, const std::string& b) {
        return "POST " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "Content-Length: " + std::to_string(b.size()) +
               "\r\n\r\n" + b;
    };

    // A body over the limit: 413 in the route's flavour, not a hang or a crash.
    std::string big(2u << 20, ' ');
    for (const auto& route : chat_routes) {
        auto reply = raw_exchange(port, post(route, "Content-Type: application/json\r\n", big), 10s);
        EXPECT_EQ(status_of(reply), 413u) << route << ": " << reply.substr(0, 300);
    }
    LLMP_EXPECT_WHOLE(a, "oversized bodies");

    // Not JSON by its Content-Type (what a cross-site form post sends): 415.
    for (const auto& route : chat_routes) {
        for (const std::string ct :
             {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
            auto r = http_request(port, "POST", route, body, {{"Content-Type", ct}});
            SCOPED_TRACE(route + " " + ct);
            expect_rejected(r, route, 415);
        }
    }
    LLMP_EXPECT_WHOLE(a, "wrong content types");

    // HEAD answers the head only, and the connection stays usable for the next request.
    {
        auto reply = raw_exchange(port,
                                  "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  5s, /*one_reply=*/false);
        EXPECT_EQ(status_of(reply), 200u) << reply;
        auto second = reply.find("HTTP/1.1", 5);
        ASSERT_NE(second, std::string::npos) << "no answer to the GET after the HEAD: " << reply;
        EXPECT_EQ(status_of(reply.substr(second)), 200u) << reply;
        // Nothing between the HEAD's head and the GET's status line: no body was sent.
        EXPECT_EQ(reply.find("\r\n\r\n") + 4, second) << reply;
    }

    // Broken framing and heads: a 4xx or a closed connection, never a hang.
    const std::vector<std::pair<std::string, std::string>> broken{
        {"a bad chunk size",
         "POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         "zz\r\nabc\r\n0\r\n\r\n"},
        {"a header line without a colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"},
        {"a NUL in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a" + std::string(1, '\0') + "b\r\n\r\n"},
        {"a 64 KiB header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(65536, 'a') + "\r\n\r\n"},
        {"both Content-Length and chunked",
         "POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"a huge Content-Length",
         "POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 99999999999999999999\r\n\r\n{}"},
        {"not HTTP at all", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n"},
        {"an absurd method", "FOO /api/chat HTTP/1.1\r\nHost: x\r\n\r\n"},
        {"an absolute-form target", "GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
    };
    for (const auto& [name, bytes] : broken) {
        SCOPED_TRACE(name);
        auto reply = raw_exchange(port, bytes, 10s);
        auto status = status_of(reply);
        EXPECT_TRUE(status == 0 || (status >= 400 && status < 500) || status == 200) << reply.substr(0, 300);
    }
    LLMP_EXPECT_WHOLE(a, "broken HTTP");
}

}  // namespace
}  // namespace llmp::testing
