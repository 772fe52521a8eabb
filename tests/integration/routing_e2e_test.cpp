// Routing by model (issue 15, items 1, 2 and 5): workers that serve different models behind one
// broker, each model's requests reaching only the workers that serve it, and a fleet that changes
// while it runs (a worker added or killed under load, a model pulled into or removed from an
// upstream, the last worker of a model leaving). Real llmproxy processes, the real RabbitMQ,
// fake_ollama / fake_openai as the upstreams. Who served what is read from the replies' worker id,
// the API's /api/workers (heartbeats) and the fakes' own counters: no audit involved.

#include "e2e_common.hpp"
#include "support/raw_stream.hpp"

#include "broker/connection.hpp"
#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "common/messages.hpp"

#include <csignal>
#include <map>
#include <thread>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double ms_since(steady::time_point t0) {
    return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

std::string base_url(unsigned port) {
    return "http://127.0.0.1:" + std::to_string(port);
}

nlohmann::json fake_stats(unsigned fake_port) {
    return json_of(http_get(fake_port, "/_fake/stats").body);
}

/// PUT /_fake/models on a fake upstream: the models it serves from now on.
void set_fake_models(unsigned fake_port, const std::vector<std::string>& models) {
    auto r = http_request(fake_port, "PUT", "/_fake/models", nlohmann::json{{"models", models}}.dump(),
                          {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200u) << r.body << r.error;
}

/// The API's view of the workers (heartbeats): id -> its entry.
std::map<std::string, nlohmann::json> workers_by_id(unsigned api_port) {
    std::map<std::string, nlohmann::json> out;
    auto j = json_of(http_get(api_port, "/api/workers").body);
    if (j.is_object() && j["workers"].is_array()) {
        for (const auto& w : j["workers"]) {
            out[w.value("worker_id", "")] = w;
        }
    }
    return out;
}

bool model_listed(unsigned api_port, const std::string& model) {
    auto j = json_of(http_get(api_port, "/api/models").body);
    if (j.is_object() && j["models"].is_array()) {
        for (const auto& m : j["models"]) {
            if (m.value("name", "") == model) {
                return true;
            }
        }
    }
    return false;
}

/// The worker id in a native stream's done event ("" if none).
std::string done_worker(const std::string& raw_sse) {
    auto at = raw_sse.find("event: done");
    if (at == std::string::npos) {
        return {};
    }
    auto data = raw_sse.find("data: ", at);
    auto end = raw_sse.find('\n', data);
    return json_of(raw_sse.substr(data + 6, end - data - 6)).value("worker_id", "");
}

/// Asks for a model nobody serves at every front door: each answers 404 model_not_found at once.
void expect_unknown_model_refused_at_once(unsigned port, const std::string& model) {
    auto messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
    struct door {
        std::string target;
        std::string body;
    };
    const std::vector<door> doors{
        {"/api/chat", chat_body(model, "hi", 3)},
        {"/api/generate", generate_body(model, "hi", 3, false)},
        {"/v1/chat/completions", nlohmann::json{{"model", model}, {"messages", messages}, {"stream", true}}.dump()},
        {"/v1/completions", nlohmann::json{{"model", model}, {"prompt", "hi"}}.dump()},
        {"/ollama/api/chat", nlohmann::json{{"model", model}, {"messages", messages}}.dump()},
        {"/ollama/api/generate", nlohmann::json{{"model", model}, {"prompt", "hi"}, {"stream", false}}.dump()},
    };
    for (const auto& d : doors) {
        auto t0 = steady::now();
        auto r = http_post(port, d.target, d.body);
        const double ms = ms_since(t0);
        EXPECT_EQ(r.status, 404u) << d.target << ": " << r.body;
        // Ollama's own wording at its door ("model \"x\" not found, try pulling it first").
        const bool ollama_door = d.target.rfind("/ollama/", 0) == 0;
        EXPECT_NE(r.body.find(ollama_door ? "not found" : "model_not_found"), std::string::npos)
            << d.target << ": " << r.body;
        EXPECT_NE(r.body.find(model), std::string::npos) << d.target << ": " << r.body;
        // Refused at admission, before anything is queued (the request timeout is 600 s).
        EXPECT_LT(ms, 2000) << d.target;
    }
}

class routing_e2e : public ::testing::Test {
protected:
    void SetUp() override {
        url_ = test_amqp_url();
        if (!url_) {
            GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
        }
    }
    std::optional<std::string> url_;
};

TEST_F(routing_e2e, a_mixed_fleet_sends_each_model_only_to_the_workers_that_serve_it) {
    cluster c{*url_};
    auto ollama = c.start_fake_ollama({"--models", "llama3.2"});
    auto openai = c.start_fake_openai({"--models", "qwen2.5"});
    auto port = c.start_api();
    c.start_worker({"--worker-id", "w-mock"});
    c.start_worker({"--worker-id", "w-ollama", "--provider", "ollama", "--ollama-url", base_url(ollama)});
    c.start_worker({"--worker-id", "w-openai", "--provider", "openai", "--openai-url", base_url(openai) + "/v1"});
    for (const char* m : {"mock:latest", "llama3.2:latest", "qwen2.5:latest"}) {
        ASSERT_TRUE(c.wait_for_model(port, m)) << m << "\n" << c.logs();
    }
    const std::map<std::string, std::string> worker_of{
        {"mock", "w-mock"}, {"llama3.2", "w-ollama"}, {"qwen2.5", "w-openai"}};

    // Each worker announces exactly the model it serves.
    auto workers = workers_by_id(port);
    ASSERT_EQ(workers.size(), 3u);
    for (const auto& [model, id] : worker_of) {
        EXPECT_EQ(workers[id]["models"], nlohmann::json::array({normalize_model_name(model)})) << id;
    }

    // The native door, all three models at once: every answer comes from its model's worker.
    std::vector<std::string> bodies;
    std::vector<std::string> models;
    for (int i = 0; i < 4; ++i) {
        for (const auto& [model, id] : worker_of) {
            bodies.push_back(chat_body(model, "route " + std::to_string(i), 5));
            models.push_back(model);
        }
    }
    auto results = run_concurrent_streams(port, "/api/chat", bodies, 4);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        ASSERT_EQ(r.status, 200u) << r.body;
        const auto* done = r.find("done");
        ASSERT_NE(done, nullptr) << models[i] << ": " << r.body;
        EXPECT_EQ(json_of(done->data)["worker_id"], worker_of.at(models[i])) << models[i];
        EXPECT_EQ(r.text(), providers::mock_text("route " + std::to_string(i / 3), 5)) << models[i];
    }

    // The OpenAI and Ollama doors, crossed with the two upstream models.
    for (const char* model : {"llama3.2", "qwen2.5"}) {
        auto messages = nlohmann::json::array({{{"role", "user"}, {"content", "door"}}});
        auto v1 = http_post(port, "/v1/chat/completions",
                            nlohmann::json{{"model", model}, {"messages", messages}, {"max_tokens", 4}}.dump());
        ASSERT_EQ(v1.status, 200u) << v1.body;
        EXPECT_EQ(json_of(v1.body)["choices"][0]["message"]["content"], providers::mock_text("door", 4)) << v1.body;
        auto ol = http_post(
            port, "/ollama/api/chat",
            nlohmann::json{
                {"model", model}, {"messages", messages}, {"stream", false}, {"options", {{"num_predict", 4}}}}
                .dump());
        ASSERT_EQ(ol.status, 200u) << ol.body;
        EXPECT_EQ(json_of(ol.body)["message"]["content"], providers::mock_text("door", 4)) << ol.body;
    }

    // The upstreams saw exactly their own model's generations: 4 native + 2 through the doors.
    EXPECT_EQ(fake_stats(ollama)["generations_started"], 6);
    EXPECT_EQ(fake_stats(openai)["generations_started"], 6);
    EXPECT_EQ(fake_stats(openai)["last_request"]["model"], "qwen2.5");
    // And each worker ran only its own (heartbeats carry the totals).
    EXPECT_TRUE(wait_until(
        [&] {
            auto w = workers_by_id(port);
            return w["w-mock"].value("requests_total", -1) == 4 && w["w-ollama"].value("requests_total", -1) == 6 &&
                   w["w-openai"].value("requests_total", -1) == 6;
        },
        10s))
        << http_get(port, "/api/workers").body;

    expect_unknown_model_refused_at_once(port, "no-such-model");
}

TEST_F(routing_e2e, a_model_pulled_into_the_upstream_is_served_within_a_heartbeat_and_dropped_when_removed) {
    cluster c{*url_};
    auto ollama = c.start_fake_ollama({"--models", "llama3.2", "--token-delay-ms", "30"});
    auto port = c.start_api();
    auto& worker = c.start_worker(
        {"--worker-id", "w-ollama", "--provider", "ollama", "--ollama-url", base_url(ollama), "--heartbeat-ms", "500"});
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    expect_unknown_model_refused_at_once(port, "phi4");

    // `ollama pull phi4`: the worker re-reads the list every heartbeat, consumes phi4's queue and
    // announces it.
    auto pulled = steady::now();
    set_fake_models(ollama, {"llama3.2", "phi4"});
    ASSERT_TRUE(c.wait_for_model(port, "phi4:latest", 10s)) << c.logs();
    const double ms = ms_since(pulled);
    std::cout << "model pulled -> served at the API: " << ms << " ms (heartbeat 500 ms)\n";
    EXPECT_LT(ms, 3000) << "about one heartbeat";
    auto r = run_concurrent_streams(port, "/api/chat", {chat_body("phi4", "new model", 4)}, 1);
    ASSERT_EQ(r[0].status, 200u) << r[0].body;
    EXPECT_EQ(r[0].text(), providers::mock_text("new model", 4));

    // `ollama rm phi4` while a phi4 generation runs: that one finishes, new ones are refused.
    raw_stream s{port, "/api/generate", generate_body("phi4", "still going", 60)};
    ASSERT_TRUE(s.read_until("event: token", 10s)) << s.received();
    set_fake_models(ollama, {"llama3.2"});
    ASSERT_TRUE(wait_until([&] { return !model_listed(port, "phi4:latest"); }, 10s)) << c.logs();
    ASSERT_TRUE(s.read_to_end(20s)) << s.received();
    EXPECT_NE(s.received().find("event: done"), std::string::npos) << s.received();
    expect_unknown_model_refused_at_once(port, "phi4");
    EXPECT_TRUE(worker.wait_for_log("msg=\"stopped consuming a model's queue\" model=phi4:latest", 5s)) << worker.log();
    auto l = run_concurrent_streams(port, "/api/chat", {chat_body("llama3.2", "still here", 3)}, 1);
    ASSERT_EQ(l[0].status, 200u) << l[0].body;
    EXPECT_NE(l[0].find("done"), nullptr) << l[0].body;
}

TEST_F(routing_e2e, a_worker_added_and_another_killed_under_load_loses_no_request) {
    cluster c{*url_};
    auto port = c.start_api();
    c.start_worker({"--worker-id", "w-a", "--concurrency", "4"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();

    // 24 streams of 20 tokens, 40 ms apart: about 5 s of work for one worker of 4 slots.
    std::vector<std::string> bodies;
    for (int i = 0; i < 24; ++i) {
        bodies.push_back(slow_mock_body("load " + std::to_string(i), 20, 40));
    }
    std::vector<stream_result> results;
    std::thread load{[&] { results = run_concurrent_streams(port, "/api/generate", bodies, 4); }};

    ASSERT_TRUE(busy_worker(port, 10s)) << c.logs();
    c.start_worker({"--worker-id", "w-b", "--concurrency", "4"});
    // w-b takes a share of the queue, then w-a dies with generations in flight.
    const bool b_took_work = wait_until(
        [&] {
            auto w = workers_by_id(port);
            return w.count("w-b") != 0 && w["w-b"].value("requests_total", 0) > 0;
        },
        15s);
    c.workers()[0]->signal(SIGKILL);
    load.join();
    ASSERT_TRUE(b_took_work) << c.logs();

    int done_by_a = 0;
    int done_by_b = 0;
    int worker_lost = 0;
    for (const auto& r : results) {
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_TRUE(r.error.empty()) << r.error;
        if (const auto* done = r.find("done")) {
            auto id = json_of(done->data)["worker_id"];
            (id == "w-a" ? done_by_a : done_by_b) += 1;
            EXPECT_TRUE(id == "w-a" || id == "w-b") << done->data;
        } else if (const auto* err = r.find("error")) {
            // Tokens already reached the client from the killed worker: it must be told.
            EXPECT_EQ(json_of(err->data)["code"], "worker_lost") << err->data;
            ++worker_lost;
        } else {
            ADD_FAILURE() << "a stream ended with neither done nor error: " << r.body;
        }
    }
    std::cout << "done by w-a " << done_by_a << ", by w-b " << done_by_b << ", worker_lost " << worker_lost << "\n";
    EXPECT_EQ(done_by_a + done_by_b + worker_lost, 24);
    EXPECT_GT(done_by_b, 0);
    EXPECT_LE(worker_lost, 4) << "at most w-a's 4 generations in flight";

    // The fleet is w-b alone now.
    auto after =
        run_concurrent_streams(port, "/api/chat", {chat_body("mock", "after", 3), chat_body("mock", "x", 3)}, 2);
    for (const auto& r : after) {
        ASSERT_EQ(r.status, 200u) << r.body;
        ASSERT_NE(r.find("done"), nullptr) << r.body;
        EXPECT_EQ(json_of(r.find("done")->data)["worker_id"], "w-b");
    }
}

TEST_F(routing_e2e, requests_queued_for_a_model_whose_last_worker_left_wait_for_their_deadline_or_a_new_worker) {
    cluster c{*url_};
    auto port = c.start_api();
    c.start_worker({"--worker-id", "w-other", "--mock-models", "other"});
    auto& w1 = c.start_worker({"--worker-id", "w-1", "--concurrency", "1"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    ASSERT_TRUE(c.wait_for_model(port, "other:latest")) << c.logs();

    // w-1 busy with one generation; two more queue behind it (the model's queue, as before).
    raw_stream busy{port, "/api/generate", slow_mock_body("occupy", 20, 100)};
    ASSERT_TRUE(busy.read_until("event: token", 10s)) << busy.received();
    raw_stream waits{port, "/api/generate", slow_mock_body("waits for a worker", 3, 0)};
    ASSERT_TRUE(waits.read_until("event: start", 10s)) << waits.received();
    raw_stream short_deadline{port, "/api/generate", slow_mock_body("short deadline", 3, 0),
                              "X-Request-Timeout-Ms: 3000\r\n"};
    ASSERT_TRUE(short_deadline.read_until("event: start", 10s)) << short_deadline.received();

    // The last worker of `mock` leaves (SIGTERM): it finishes what it holds and takes nothing more.
    w1.signal(SIGTERM);
    ASSERT_TRUE(busy.read_to_end(20s)) << busy.received();
    EXPECT_NE(busy.received().find("event: done"), std::string::npos) << busy.received();
    EXPECT_EQ(w1.wait_exit(20s).value_or(-1), 0) << c.logs();

    // New requests for `mock` are refused at once; the queued ones are not refused.
    ASSERT_TRUE(wait_until([&] { return !model_listed(port, "mock:latest"); }, 5s)) << c.logs();
    expect_unknown_model_refused_at_once(port, "mock");
    // The one with a deadline ends at it.
    ASSERT_TRUE(short_deadline.read_to_end(10s)) << short_deadline.received();
    EXPECT_NE(short_deadline.received().find("event: error"), std::string::npos) << short_deadline.received();
    EXPECT_NE(short_deadline.received().find("timeout"), std::string::npos) << short_deadline.received();
    EXPECT_EQ(waits.received().find("event: done"), std::string::npos) << waits.received();
    EXPECT_EQ(waits.received().find("event: error"), std::string::npos) << waits.received();

    // A worker for `mock` returns: the request that waited is answered by it.
    c.start_worker({"--worker-id", "w-2"});
    ASSERT_TRUE(waits.read_to_end(20s)) << waits.received() << c.logs();
    EXPECT_EQ(done_worker(waits.received()), "w-2") << waits.received();
}

TEST_F(routing_e2e, a_request_left_in_the_single_work_queue_of_an_older_version_is_still_served) {
    cluster c{*url_};
    // What an upgrade leaves behind: a request in <p>.requests.work (before any new process ran).
    broker::broker_config bcfg;
    bcfg.url = c.amqp_url();
    bcfg.prefix = c.prefix();
    broker::topology topo{c.prefix()};
    {
        auto conn = broker::connection::open(bcfg, "routing e2e old version");
        ASSERT_TRUE(conn) << conn.error().message;
        ASSERT_TRUE(conn.value()->declare_exchange(topo.dead_exchange, "fanout"));
        broker::queue_options work;
        work.arguments = {{"x-max-length", std::int64_t{bcfg.work_queue_max_length}},
                          {"x-overflow", std::string{"reject-publish"}},
                          {"x-dead-letter-exchange", topo.dead_exchange},
                          {"x-max-priority", std::int64_t{bcfg.max_priority}}};
        ASSERT_TRUE(conn.value()->declare_queue(topo.work_queue, work));
        request_message m;
        m.request_id = "old-request-1";
        m.server_id = "api-of-the-old-version";  // long gone: the answer is returned, unrouted
        m.received_at_ms = unix_ms();
        m.model = "mock";
        m.prompt = "left behind";
        m.kind = request_kind::generate;
        broker::outgoing_message msg;
        msg.routing_key = topo.work_queue;  // default exchange
        msg.props.persistent = true;
        msg.body = encode(m);
        ASSERT_TRUE(conn.value()->publish(msg));
    }
    auto port = c.start_api();
    c.start_worker({"--worker-id", "w-new"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    EXPECT_TRUE(wait_until([&] { return workers_by_id(port)["w-new"].value("requests_total", 0) == 1; }, 10s))
        << http_get(port, "/api/workers").body << c.logs();
    // New requests go to the model's queue, not there.
    auto r = run_concurrent_streams(port, "/api/chat", {chat_body("mock", "new", 3)}, 1);
    ASSERT_EQ(r[0].status, 200u) << r[0].body;
    EXPECT_NE(r[0].find("done"), nullptr) << r[0].body;
    auto conn = broker::connection::open(bcfg, "routing e2e inspect");
    ASSERT_TRUE(conn);
    auto q = conn.value()->inspect_queue(topo.work_queue);
    ASSERT_TRUE(q);
    EXPECT_EQ(q.value().messages, 0u);
    EXPECT_EQ(q.value().consumers, 1u) << "the worker keeps draining it";
}

}  // namespace
}  // namespace llmp::testing
