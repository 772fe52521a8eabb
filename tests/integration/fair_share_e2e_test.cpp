// Fair share between keys (issue 14, item 4) end to end: two API servers with --auth keys, three
// mock workers with one slot each, key A flooding both servers with far more streams than the
// workers can run, key B sending one request at a time meanwhile. B's requests must not wait
// behind A's backlog (api/fair_share.hpp lifts them one priority level), and every one of A's
// requests must still complete.

#include "e2e_common.hpp"
#include "e2e_database.hpp"

#include <algorithm>
#include <future>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;

constexpr int flood = 240;     // A's streams, spread over both servers
constexpr int tokens = 10;     // per answer, 10 ms each: 100 ms a generation
constexpr int b_requests = 6;  // B's, one after another

/// llmproxy_streams_in_flight of the API on `port` (-1 when unreadable).
double streams_in_flight(unsigned port) {
    auto body = http_get(port, "/metrics").body;
    auto at = body.find("\nllmproxy_streams_in_flight ");
    return at == std::string::npos ? -1 : std::stod(body.substr(at + 28));
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct scenario_result {
    double a_median_ms = 0;
    std::vector<double> b_ttft_ms;
    double b_worst_ms() const { return *std::max_element(b_ttft_ms.begin(), b_ttft_ms.end()); }
};

/// The flood and the steady key against two API servers started with `--fair-share on|off`.
/// Every stream of both keys must complete with its exact answer.
scenario_result run_scenario(const std::string& amqp_url, const std::string& database_url, const char* fair) {
    scenario_result out;
    pg::testing::scratch_database db{database_url};
    const auto key_a = migrate_and_create_key(db.url(), "flood");
    const auto key_b = migrate_and_create_key(db.url(), "steady");
    if (key_a.empty() || key_b.empty()) {
        return out;
    }
    cluster c{amqp_url};
    const std::vector<std::string> api_args{"--auth", "keys", "--database-url", db.url(), "--fair-share", fair};
    const unsigned api1 = c.start_api(api_args);
    const unsigned api2 = c.start_api(api_args);
    for (int w = 0; w < 3; ++w) {
        c.start_worker({"--provider", "mock", "--concurrency", "1", "--mock-token-delay-us", "10000"});
    }
    const std::vector<std::pair<std::string, std::string>> as_b{{"Authorization", "Bearer " + key_b}};
    for (unsigned port : {api1, api2}) {
        EXPECT_TRUE(wait_until(
            [&] {
                auto r = http_request(port, "GET", "/api/workers", {}, as_b);
                return r.status == 200 && json_of(r.body)["workers"].size() == 3;
            },
            30s))
            << c.logs();
    }

    std::vector<stream_request> flood_reqs;
    for (int i = 0; i < flood; ++i) {
        flood_reqs.push_back({i % 2 ? api2 : api1,
                              "/api/chat",
                              chat_body("mock", "flood " + std::to_string(i), tokens),
                              {{"Authorization", "Bearer " + key_a}}});
    }
    auto flooding = std::async(std::launch::async, [&] { return run_concurrent_streams(flood_reqs, 2); });
    // B starts once A's backlog is in place: half the flood open (its opening races the first
    // generations on a loaded machine), at 30 generations a second at least 4 s of work queued.
    EXPECT_TRUE(wait_until([&] { return streams_in_flight(api1) + streams_in_flight(api2) >= flood / 2; }, 30s))
        << c.logs();
    for (int i = 0; i < b_requests; ++i) {
        auto prompt = "steady " + std::to_string(i);
        auto r =
            run_concurrent_streams({{i % 2 ? api2 : api1, "/api/chat", chat_body("mock", prompt, tokens), as_b}}, 1);
        EXPECT_EQ(r[0].status, 200u) << r[0].error << r[0].body;
        EXPECT_EQ(r[0].text(), providers::mock_text(prompt, tokens)) << r[0].body;
        out.b_ttft_ms.push_back(r[0].ttft_ms);
    }

    auto a = flooding.get();
    std::vector<double> a_ttft;
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].status, 200u) << a[i].error << a[i].body;
        EXPECT_NE(a[i].find("done"), nullptr) << "one of A's streams did not complete: " << a[i].body;
        EXPECT_EQ(a[i].text(), providers::mock_text("flood " + std::to_string(i), tokens));
        a_ttft.push_back(a[i].ttft_ms);
    }
    out.a_median_ms = median(a_ttft);
    std::printf("fair share %s: A (%d streams) TTFT median %.0f ms; B TTFT median %.0f ms, worst %.0f ms\n", fair,
                flood, out.a_median_ms, median(out.b_ttft_ms), out.b_worst_ms());
    return out;
}

TEST(fair_share_e2e, a_flooding_key_does_not_hold_up_another_keys_requests) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto r = run_scenario(amqp_url, db_url, "on");
    ASSERT_FALSE(HasFailure());
    // A's backlog was real: the flood takes flood/3 generations of 100 ms per slot, so half
    // of A waited over a second for its first token...
    EXPECT_GT(r.a_median_ms, 1000.0) << "the flood never queued: the test shows nothing";
    // ...while each of B's requests went to the next free slot: about one generation's wait
    // (100 ms / 3 slots on average, 100 ms at worst) plus the proxy, far below A's median. The
    // bound: a quarter of A's median, at least 600 ms. A fixed 600 ms failed twice in CI on
    // this 2-core machine under the sanitizers (B's worst 648 and 673 ms, A's median 5.4 s),
    // where B's worst is usually 100-130 ms; without the lift B's first request waits longer
    // than A's median (8.7 s against 4.6 s), far past either bound.
    const double bound = std::max(600.0, r.a_median_ms / 4);
    EXPECT_LT(r.b_worst_ms(), bound) << "B waited behind A's flood (A's median TTFT " << r.a_median_ms << " ms)";
}

// The baseline, so the test above shows something: without the lift, B's requests queue behind
// the flood like A's own.
TEST(fair_share_e2e, without_fair_share_the_steady_key_waits_behind_the_flood) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto r = run_scenario(amqp_url, db_url, "off");
    ASSERT_FALSE(HasFailure());
    // B's first request came with the backlog at its deepest (later ones find it drained).
    EXPECT_GT(r.b_ttft_ms.front(), 600.0) << "B was not held up even without fair share: the flood was too small";
}

}  // namespace
}  // namespace llmp::testing
