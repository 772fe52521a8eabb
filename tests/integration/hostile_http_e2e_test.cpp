// Hostile HTTP clients end to end (issue 11, items 4, 5, 8 and 9 on the HTTP side): a client
// that stops reading mid-stream, a POST that is not JSON. Real api, worker and audit processes
// against the test RabbitMQ and PostgreSQL. After each: the stream is ended, its worker
// cancelled and its slot freed, and the server keeps serving everyone else.

#include "e2e_common.hpp"
#include "e2e_database.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sstream>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;

/// A client that sends a streaming request and then reads nothing: a 4 KB receive buffer, so
/// the server's writes stall as soon as the kernel buffers are full.
class non_reading_client {
public:
    non_reading_client(unsigned port, const std::string& target, const std::string& body)
        : fd_{::socket(AF_INET, SOCK_STREAM, 0)} {
        int rcvbuf = 4096;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        sent_ = connected_ && ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
    }
    ~non_reading_client() { ::close(fd_); }
    bool sent() const { return sent_; }

private:
    int fd_;
    bool connected_ = false;
    bool sent_ = false;
};

/// A long stream: OpenAI chunks are the largest events (~250 bytes a token), so the kernel's
/// socket buffers (several MB on loopback: the sender's grows up to tcp_wmem's 4 MB) fill after
/// some 20,000 one-token events, many more when a backlog merges chunks; the worker (a token
/// every 20 us, 400,000 of them) is still generating when the relay gives up on the client.
std::string long_stream_body() {
    nlohmann::json message{{"role", "user"}, {"content", "talk to a client who never listens"}};
    nlohmann::json j{
        {"model", "mock"}, {"messages", nlohmann::json::array({message})}, {"max_tokens", 400000}, {"stream", true}};
    return j.dump();
}
constexpr const char* long_stream_target = "/v1/chat/completions";
// The worker's generation cap (--max-tokens, 4096 by default) is raised for this one long stream.
const std::vector<std::string> token_every_20us{"--mock-token-delay-us", "20", "--max-tokens", "400000"};

/// What a user checks after a stream was cut for a slow client: the API counted it as
/// client_too_slow and freed its slot, the worker stopped generating, and the server serves
/// the next client normally.
void expect_cut_for_a_slow_client(cluster& c, unsigned api, child_process& worker, std::chrono::milliseconds within) {
    ASSERT_TRUE(
        wait_until([&] { return metric_sum(api, "llmproxy_generations_total", "client_too_slow") == 1; }, within))
        << "the stream of a client that reads nothing was not ended\n"
        << c.logs().substr(0, 20000);
    EXPECT_TRUE(wait_until([&] { return metric_sum(api, "llmproxy_streams_in_flight") == 0; }, 5s))
        << "the stream's slot was not freed";
    auto wport = c.metrics_port(worker);
    EXPECT_TRUE(
        wait_until([&] { return metric_sum(wport, "llmproxy_worker_generations_total", "cancelled") >= 1; }, 10s))
        << "the worker kept generating for a client that was cut off\n"
        << c.logs().substr(0, 20000);
    // Closed on the server's side: the only connection left open is this scrape's own. (Reading
    // the slow client's socket to EOF is no test of that: with its 4 KB window below loopback's
    // MSS the kernel sends the rest only at the pace of its persist probes, which back off to
    // many seconds after a long zero window; seen in CI.)
    EXPECT_TRUE(wait_until([&] { return metric_sum(api, "llmproxy_http_connections_open") <= 1; }, 10s))
        << "the slow client's connection was left open";

    EXPECT_EQ(http_get(api, "/healthz").status, 200u);
    auto normal = run_concurrent_streams(api, "/api/chat", {chat_body("mock", "and now a normal client", 5)});
    ASSERT_EQ(normal.size(), 1u);
    EXPECT_EQ(normal[0].status, 200u) << normal[0].body;
    EXPECT_NE(normal[0].find("done"), nullptr) << normal[0].body;
}

TEST(hostile_http_e2e, a_client_that_stops_reading_is_cut_after_the_write_timeout_and_audited_as_too_slow) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto api = c.start_api({"--write-timeout-ms", "1000"});
    auto& worker = c.start_worker(token_every_20us);
    c.start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();

    non_reading_client slow{api, long_stream_target, long_stream_body()};
    ASSERT_TRUE(slow.sent());
    expect_cut_for_a_slow_client(c, api, worker, 60s);
    EXPECT_TRUE(wait_until(
        [&] { return db.count("SELECT count(*) FROM responses WHERE error_code = 'client_too_slow'") == 1; }, 15s))
        << "the audit does not say the client was too slow\n"
        << c.logs().substr(0, 20000);
}

TEST(hostile_http_e2e, a_stream_whose_buffer_overflows_is_cut_at_once_even_while_a_write_is_blocked) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    // The write timeout is far away: only the overflow can end this stream in time.
    auto api = c.start_api({"--write-timeout-ms", "600000", "--max-stream-buffer", "4096"});
    auto& worker = c.start_worker(token_every_20us);
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();

    non_reading_client slow{api, long_stream_target, long_stream_body()};
    ASSERT_TRUE(slow.sent());
    expect_cut_for_a_slow_client(c, api, worker, 60s);
}

TEST(hostile_http_e2e, a_post_that_is_not_json_gets_415_in_the_shape_of_its_route) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto api = c.start_api();
    c.start_worker({"--mock-token-delay-us", "0"});
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();
    const std::string body = chat_body("mock", "hi", 3, false);
    const std::vector<std::vector<std::pair<std::string, std::string>>> not_json{
        {{"Content-Type", "text/plain"}},
        {{"Content-Type", "application/x-www-form-urlencoded"}},  // what `curl -d` sends
        {},                                                       // none at all
    };
    for (const auto& headers : not_json) {
        const std::string what = headers.empty() ? "no Content-Type" : headers[0].second;

        auto native = http_request(api, "POST", "/api/chat", body, headers);
        EXPECT_EQ(native.status, 415u) << what << ": " << native.body;
        auto nj = json_of(native.body);
        EXPECT_EQ(nj["error"]["code"], "unsupported_media_type") << native.body;

        auto openai = http_request(api, "POST", "/v1/chat/completions", body, headers);
        EXPECT_EQ(openai.status, 415u) << what << ": " << openai.body;
        auto oj = json_of(openai.body);
        EXPECT_EQ(oj["error"]["type"], "invalid_request_error") << openai.body;
        EXPECT_EQ(oj["error"]["code"], "unsupported_media_type") << openai.body;
        EXPECT_TRUE(oj["error"]["message"].is_string()) << openai.body;

        auto ollama = http_request(api, "POST", "/ollama/api/chat", body, headers);
        EXPECT_EQ(ollama.status, 415u) << what << ": " << ollama.body;
        auto lj = json_of(ollama.body);
        EXPECT_TRUE(lj["error"].is_string()) << "Ollama's shape: {\"error\": \"...\"}: " << ollama.body;
    }
    // JSON with parameters and in any case is JSON.
    auto ok = http_request(api, "POST", "/api/chat", body, {{"Content-Type", "Application/JSON; charset=utf-8"}});
    EXPECT_EQ(ok.status, 200u) << ok.body;
    EXPECT_EQ(metric_sum(api, "llmproxy_generations_total", "completed"), 1) << "no 415 request reached a worker";
}

}  // namespace
}  // namespace llmp::testing
