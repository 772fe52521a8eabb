#include "providers/pool/pool_provider.hpp"

#include "providers/testing/fake_ollama.hpp"
#include "providers/testing/fake_openai.hpp"
#include "providers/factory.hpp"
#include "providers/mock/mock_text.hpp"
#include "providers/testing/provider_test_harness.hpp"

namespace llmp::providers {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

generation_request chat_request(std::string model, std::string user_text, int num_predict = 8) {
    generation_request r;
    r.request_id = "req-" + user_text;
    r.kind = request_kind::chat;
    r.model = std::move(model);
    r.messages = json::array({json{{"role", "user"}, {"content", std::move(user_text)}}});
    r.options = json{{"num_predict", num_predict}};
    return r;
}

class pool_provider_test : public test::io_fixture {
protected:
    /// A pool through the factory, as the worker builds it from --upstream flags.
    std::unique_ptr<provider> make(const std::vector<std::string>& specs) {
        provider_config cfg;
        for (const auto& s : specs) {
            auto u = parse_upstream(s);
            EXPECT_TRUE(u) << u.error().message;
            cfg.upstreams.push_back(u.value());
        }
        cfg.upstream_retry_after = 60s;  // no second chance within a test unless models() says so
        auto p = make_provider(cfg, ioc_.get_executor());
        EXPECT_TRUE(p) << p.error().message;
        return std::move(p).value();
    }

    /// Starts `n` generations at once and waits for all of them.
    std::vector<test::outcome> generate_many(provider& p, const std::string& model, int n) {
        std::vector<std::shared_ptr<test::run_state>> states;
        std::vector<std::shared_ptr<generation>> gens;
        for (int i = 0; i < n; ++i) {
            states.push_back(std::make_shared<test::run_state>());
            gens.push_back(p.start(chat_request(model, "q" + std::to_string(i)), test::collect(states.back())));
        }
        std::vector<test::outcome> out;
        for (auto& st : states) {
            auto f = st->finished.get_future();
            if (f.wait_for(test::test_timeout) != std::future_status::ready) {
                ADD_FAILURE() << "generation did not end";
                std::abort();
            }
            out.push_back(f.get());
        }
        return out;
    }
};

TEST(pool_config, upstream_specs) {
    auto u = parse_upstream("openai=http://c:8000/v1");
    ASSERT_TRUE(u);
    EXPECT_EQ(u.value().type, "openai");
    EXPECT_EQ(u.value().url, "http://c:8000/v1");
    EXPECT_FALSE(parse_upstream("http://c:8000"));
    EXPECT_FALSE(parse_upstream("mock=http://x"));
    EXPECT_FALSE(parse_upstream("ollama="));
}

TEST_F(pool_provider_test, models_are_the_union_and_each_model_goes_where_it_is_served) {
    testing::fake_ollama_options fo;
    fo.models = {"llama3.2:latest", "shared:latest"};
    testing::fake_ollama ollama{fo};
    testing::fake_openai_options oo;
    oo.models = {"gpt-4o-mini", "shared"};
    testing::fake_openai openai{oo};
    auto p = make({"ollama=" + ollama.url(), "openai=" + openai.url()});
    EXPECT_EQ(p->name(), "pool");
    ASSERT_TRUE(run(p->init()));
    auto m = run(p->models());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value(), (std::vector<std::string>{"gpt-4o-mini:latest", "llama3.2:latest", "shared:latest"}));

    auto o = generate_all(*p, chat_request("gpt-4o-mini", "to openai", 4));
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(o.text(), mock_text("to openai", 4));
    EXPECT_EQ(openai.generations_started(), 1u);
    EXPECT_EQ(openai.last_request_body()["model"], "gpt-4o-mini");

    o = generate_all(*p, chat_request("llama3.2", "to ollama", 4));
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(o.text(), mock_text("to ollama", 4));
    EXPECT_EQ(ollama.last_request_body()["model"], "llama3.2");
    EXPECT_EQ(openai.generations_started(), 1u);

    o = generate_all(*p, chat_request("nobody-has-it", "x"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "model_not_found");
}

TEST_F(pool_provider_test, load_spreads_over_upstreams_serving_the_model) {
    testing::fake_ollama_options fo;
    fo.token_delay = 5ms;
    testing::fake_ollama a{fo};
    testing::fake_ollama b{fo};
    auto p = make({"ollama=" + a.url(), "ollama=" + b.url()});
    ASSERT_TRUE(run(p->init()));
    const auto tags_a = a.requests();
    const auto tags_b = b.requests();
    auto outs = generate_many(*p, "fake", 10);
    for (const auto& o : outs) {
        ASSERT_TRUE(o.done) << o.err->message;
    }
    // Least busy first, round-robin on ties: ten generations started at once split 5/5.
    EXPECT_EQ(a.requests() - tags_a, 5u);
    EXPECT_EQ(b.requests() - tags_b, 5u);
}

TEST_F(pool_provider_test, a_killed_upstream_is_skipped_and_comes_back) {
    testing::fake_ollama_options fo;
    auto a = std::make_unique<testing::fake_ollama>(fo);
    testing::fake_ollama b{fo};
    const auto port_a = a->port();
    auto p = make({"ollama=" + a->url(), "ollama=" + b.url()});
    ASSERT_TRUE(run(p->init()));

    a.reset();  // killed: its port now refuses connections
    const auto before_b = b.requests();
    for (int i = 0; i < 6; ++i) {
        auto o = generate_all(*p, chat_request("fake", "still there " + std::to_string(i), 3));
        ASSERT_TRUE(o.done) << o.err->message;
        EXPECT_EQ(o.text(), mock_text("still there " + std::to_string(i), 3));
    }
    EXPECT_EQ(b.requests() - before_b, 6u);

    auto m = run(p->models());  // a is down, b still lists the models
    ASSERT_TRUE(m) << m.error().message;

    fo.port = port_a;  // a comes back on the same address
    testing::fake_ollama a2{fo};
    ASSERT_TRUE(run(p->models()));
    auto outs = generate_many(*p, "fake", 4);
    for (const auto& o : outs) {
        ASSERT_TRUE(o.done) << o.err->message;
    }
    EXPECT_GE(a2.requests(), 2u) << "the upstream that came back gets work again";
}

TEST_F(pool_provider_test, all_upstreams_down_is_upstream_unavailable) {
    auto port = test::unused_port();
    auto p = make({"ollama=http://127.0.0.1:" + std::to_string(port)});
    auto r = run(p->init());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "upstream_unavailable");
    auto o = generate_all(*p, chat_request("fake", "x"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_unavailable");
}

TEST_F(pool_provider_test, rate_limited_upstream_passes_the_request_to_the_next) {
    testing::fake_openai one;
    testing::fake_openai two;
    auto p = make({"openai=" + one.url(), "openai=" + two.url()});
    ASSERT_TRUE(run(p->init()));
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "[[429]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_rate_limited");
    // Both were asked, once each.
    EXPECT_EQ(one.last_request_body()["model"], "gpt-4o-mini");
    EXPECT_EQ(two.last_request_body()["model"], "gpt-4o-mini");
}

TEST_F(pool_provider_test, cancel_reaches_the_upstream) {
    testing::fake_openai one;
    auto p = make({"openai=" + one.url()});
    ASSERT_TRUE(run(p->init()));
    auto st = std::make_shared<test::run_state>();
    auto first = st->first_token.get_future();
    auto fut = st->finished.get_future();
    auto g = p->start(chat_request("gpt-4o-mini", "[[stall]]"), test::collect(st));
    ASSERT_EQ(first.wait_for(test::test_timeout), std::future_status::ready);
    g->cancel();
    ASSERT_EQ(fut.wait_for(test::test_timeout), std::future_status::ready);
    auto o = fut.get();
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "cancelled");
    // The fake saw the client go away (poll: it counts that after its read fails).
    auto deadline = std::chrono::steady_clock::now() + test::test_timeout;
    while (one.generations_aborted() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(one.generations_aborted(), 1u);
}

}  // namespace
}  // namespace llmp::providers
