// The OpenAI- and Ollama-compatible front doors (issue 5) end to end: the official client
// libraries (tests/clients: the `openai` Node SDK and the `ollama` JS client, run with
// `node --test`) and the real curl against real llmproxy processes and the real broker, with
// the mock provider's deterministic answers. Also the raw bytes of each stream and the error
// shapes and statuses of both flavours.

#include "e2e_common.hpp"
#include "support/raw_stream.hpp"

#include "e2e_database.hpp"
#include "providers/embedding_exchange.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr const char* model = "mock:latest";  // as GET /v1/models lists it

/// An executable named `name` on PATH, or "".
std::string find_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs{path ? path : ""};
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in{p, std::ios::binary};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string url_of(unsigned port) {
    return "http://127.0.0.1:" + std::to_string(port);
}

/// One response as curl saw it: the head (status line and headers) and the body, byte for byte.
struct curl_reply {
    int exit_code = -1;
    std::string head;
    std::string body;
    std::string output;  ///< curl's own messages

    bool has_header(const std::string& line) const { return head.find(line + "\r\n") != std::string::npos; }
};

/// Runs the real `curl -sSN` (no buffering, the bytes as they come) with a JSON body (or a GET).
curl_reply run_curl(const std::string& url, const std::string& body, const std::string& method = "POST") {
    static int n = 0;
    auto dir = test_output_dir();
    auto id = std::to_string(++n);
    auto head = dir / ("curl-" + id + ".head");
    auto out = dir / ("curl-" + id + ".body");
    std::vector<std::string> argv{find_on_path("curl"), "-sSN", "--max-time", "30", "-D",
                                  head.string(),        "-o",   out.string()};
    if (method == "HEAD") {
        argv.push_back("-I");
    } else if (method == "POST") {
        argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    argv.push_back(url);
    child_process p{"curl", argv, {}, dir / ("curl-" + id + ".log")};
    curl_reply r;
    r.exit_code = p.wait_exit(40s).value_or(-1);
    r.head = read_file(head);
    r.body = read_file(out);
    r.output = p.log();
    return r;
}

/// The events of an OpenAI stream, failing the test on anything the SDKs would choke on:
/// each event one `data: ` line ended by a blank line, no event:/id: fields.
std::vector<std::string> openai_events(const std::string& body) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto end = body.find("\n\n", pos);
        if (end == std::string::npos) {
            ADD_FAILURE() << "an event without its blank line at byte " << pos << ": " << body.substr(pos);
            break;
        }
        auto ev = body.substr(pos, end - pos);
        pos = end + 2;
        if (ev.starts_with(":")) {
            continue;  // a keep-alive comment
        }
        EXPECT_TRUE(ev.starts_with("data: ")) << ev;
        EXPECT_EQ(ev.find('\n'), std::string::npos) << "an event of more than one line: " << ev;
        out.push_back(ev.substr(6));
    }
    return out;
}

/// The lines of an NDJSON body, each parsed; fails on a line that is not one JSON object.
std::vector<json> ndjson_lines(const std::string& body) {
    std::vector<json> out;
    EXPECT_TRUE(body.ends_with("\n")) << body;
    std::stringstream ss{body};
    std::string line;
    while (std::getline(ss, line)) {
        auto j = json::parse(line, nullptr, false);
        EXPECT_TRUE(j.is_object()) << "not a JSON object line: " << line;
        out.push_back(std::move(j));
    }
    return out;
}

json chat_request(const std::string& prompt, int n, bool stream) {
    json j{{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}, {"stream", stream}};
    j["max_tokens"] = n;
    return j;
}

/// The text the mock sends before failing after `k` of `n` tokens.
std::string mock_prefix(const std::string& prompt, int n, int k) {
    std::string out;
    auto tokens = providers::mock_tokens(prompt, n);
    for (int i = 0; i < k; ++i) {
        out += tokens[static_cast<std::size_t>(i)];
    }
    return out;
}

class compat_e2e : public ::testing::Test {
protected:
    void SetUp() override {
        url_ = test_amqp_url();
        if (!url_) {
            GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
        }
    }

    /// An API server and a mock worker, ready to serve. (One worker: a second one still
    /// starting when a short test ends would be stopped before it handles SIGTERM.)
    unsigned start_cluster(std::vector<std::string> api_args = {}) {
        cluster_ = std::make_unique<cluster>(*url_);
        auto port = cluster_->start_api(std::move(api_args));
        cluster_->start_worker({"--provider", "mock"});
        if (!cluster_->wait_for_model(port, model)) {
            throw std::runtime_error("no worker announced the mock model:\n" + cluster_->logs());
        }
        return port;
    }

    /// An API server, a worker serving a fake Ollama's llama3.2:latest and a fake
    /// OpenAI-compatible server's gpt-4o-mini, and a mock worker, all three models ready; with
    /// `audit_db`, an audit service storing into it too.
    unsigned start_three_upstream_kinds(const std::string& audit_db = {}) {
        cluster_ = std::make_unique<cluster>(*url_);
        auto ollama = cluster_->start_fake_ollama({"--models", "llama3.2:latest"});
        auto openai = cluster_->start_fake_openai({"--models", "gpt-4o-mini"});
        auto port = cluster_->start_api();
        if (!audit_db.empty()) {
            cluster_->start_audit(audit_db, {"--batch-ms", "20"});
        }
        cluster_->start_worker(
            {"--upstream", "ollama=" + url_of(ollama), "--upstream", "openai=" + url_of(openai) + "/v1"});
        cluster_->start_worker({"--provider", "mock"});
        for (const char* m : {"llama3.2:latest", "gpt-4o-mini:latest", model}) {
            if (!cluster_->wait_for_model(port, m)) {
                throw std::runtime_error(std::string{"no worker announced "} + m + ":\n" + cluster_->logs());
            }
        }
        return port;
    }

    /// Runs `node --test <file>` from tests/clients against the API on `port`, with `extra_env`
    /// added to what cases.mjs reads.
    void run_node_tests(unsigned port, const std::string& file, std::vector<std::string> extra_env = {},
                        const std::string& model_name = model) {
        auto node = find_on_path("node");
        ASSERT_FALSE(node.empty()) << "node is not on PATH (scripts/test installs nodejs)";
        std::filesystem::path dir{LLMPROXY_CLIENT_TESTS_DIR};
        ASSERT_TRUE(std::filesystem::exists(dir / "node_modules" / "openai"))
            << "run `npm ci` in " << dir << " (scripts/test does)";
        const std::string chat_prompt = "Tell me about llamas in three words";
        const std::string completion_prompt = "Once upon a time";
        const std::string failing_prompt = "fail for me [[mock:fail-after=3]]";
        const std::string tools_prompt = "What is the weather in Paris?";
        const std::string background_prompt = "Tell the long story of the llamas who waited";
        json cases{
            {"chat", {{"prompt", chat_prompt}, {"max_tokens", 9}, {"text", providers::mock_text(chat_prompt, 9)}}},
            {"completion",
             {{"prompt", completion_prompt}, {"max_tokens", 6}, {"text", providers::mock_text(completion_prompt, 6)}}},
            {"failing", {{"prompt", failing_prompt}, {"max_tokens", 8}, {"text", mock_prefix(failing_prompt, 8, 3)}}},
            {"tools", {{"prompt", tools_prompt}, {"max_tokens", 5}, {"text", providers::mock_text(tools_prompt, 5)}}},
            {"background",
             {{"prompt", background_prompt},
              {"max_tokens", 60},
              {"text", providers::mock_text(background_prompt, 60)}}},
            {"long",
             {{"prompt", background_prompt},
              {"max_tokens", 2000},
              {"text", providers::mock_text(background_prompt, 2000)}}}};
        auto log = test_output_dir() / (file + ".log");
        std::vector<std::string> env{"LLMPROXY_URL=" + url_of(port), "LLMPROXY_MODEL=" + model_name,
                                     "LLMPROXY_CASES=" + cases.dump(), "NO_COLOR=1"};
        env.insert(env.end(), extra_env.begin(), extra_env.end());
        // node_modules is found from the test file's directory, whatever the working directory.
        child_process p{"node", {node, "--test", "--test-reporter=spec", (dir / file).string()}, env, log};
        auto code = p.wait_exit(120s);
        EXPECT_TRUE(code.has_value() && *code == 0)
            << "node --test " << file << " exited " << (code ? std::to_string(*code) : "(still running)") << ":\n"
            << p.log();
        if (HasFailure()) {
            ADD_FAILURE() << cluster_->logs();
        }
    }

    std::optional<std::string> url_;
    std::unique_ptr<cluster> cluster_;
};

TEST_F(compat_e2e, openai_node_sdk_streams_chats_completes_lists_and_raises_not_found) {
    auto port = start_cluster();
    run_node_tests(port, "openai.test.mjs");
}

TEST_F(compat_e2e, ollama_js_client_chats_generates_and_lists) {
    auto port = start_cluster();
    run_node_tests(port, "ollama.test.mjs");
}

// Issue 17: tool calls through both front doors and both upstream kinds, one worker serving a
// model of a fake Ollama and one of a fake OpenAI-compatible server, and a mock worker
// (tests/clients/tools.test.mjs).
TEST_F(compat_e2e, official_clients_call_tools_through_ollama_and_openai_upstreams) {
    auto port = start_three_upstream_kinds();  // the mock: the README tour's tool call
    run_node_tests(port, "tools.test.mjs", {R"(LLMPROXY_TOOL_MODELS=["llama3.2","gpt-4o-mini","mock"])"});
}

// Issue 18: the Responses API with the official client, stored responses read back from the
// audit's database (tests/clients/responses.test.mjs).
TEST_F(compat_e2e, openai_node_sdk_creates_streams_continues_retrieves_and_deletes_responses) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto [migrated, mlog] = run_cli("migrate-responses", {"migrate", "--database-url", db.url()});
    ASSERT_EQ(migrated, 0) << mlog;
    cluster_ = std::make_unique<cluster>(*url_);
    auto port = cluster_->start_api({"--responses-db", "on", "--database-url", db.url()});
    cluster_->start_worker({"--provider", "mock"});
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(cluster_->wait_for_model(port, model)) << cluster_->logs();
    run_node_tests(port, "responses.test.mjs");
}

// Issue 18, part 2: background responses polled to completion, cancelled from the other server,
// and a stream dropped on one API server resumed on the other with exactly the missing events
// (tests/clients/background.test.mjs); then the audit's rows of each.
TEST_F(compat_e2e, openai_node_sdk_polls_cancels_and_resumes_background_responses_across_two_servers) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto [migrated, mlog] = run_cli("migrate-background", {"migrate", "--database-url", db.url()});
    ASSERT_EQ(migrated, 0) << mlog;
    cluster_ = std::make_unique<cluster>(*url_);
    auto port_a = cluster_->start_api({"--responses-db", "on", "--database-url", db.url()});
    auto port_b = cluster_->start_api({"--responses-db", "on", "--database-url", db.url()});
    // 25 ms a token: a 60-token answer runs for 1.5 s, long enough to be seen running.
    cluster_->start_worker({"--provider", "mock", "--mock-token-delay-us", "25000"});
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(cluster_->wait_for_model(port_a, model)) << cluster_->logs();
    ASSERT_TRUE(cluster_->wait_for_model(port_b, model)) << cluster_->logs();
    auto ids_file = test_output_dir() / "background-ids.json";
    std::filesystem::remove(ids_file);
    run_node_tests(port_a, "background.test.mjs",
                   {"LLMPROXY_URL_B=" + url_of(port_b), "LLMPROXY_IDS_FILE=" + ids_file.string()});
    ASSERT_FALSE(HasFailure());
    auto ids = json::parse(read_file(ids_file));
    const std::string prompt = "Tell the long story of the llamas who waited";
    for (const char* name : {"polled", "resumed"}) {
        auto id = ids.at(name).get<std::string>();
        EXPECT_EQ(db.scalar("SELECT server_id FROM requests WHERE request_id = '" + id + "'"), "bg." + id) << name;
        EXPECT_EQ(db.scalar("SELECT route FROM requests WHERE request_id = '" + id + "'"), "/v1/responses") << name;
        EXPECT_EQ(db.scalar("SELECT status FROM responses WHERE request_id = '" + id + "'"), "ok") << name;
        // Every chunk stored, whatever --audit-chunks says (off here): they add up to the answer.
        EXPECT_EQ(
            db.scalar("SELECT string_agg(text, '' ORDER BY seq) FROM response_chunks WHERE request_id = '" + id + "'"),
            providers::mock_text(prompt, 60))
            << name;
    }
    auto cancelled = ids.at("cancelled").get<std::string>();
    EXPECT_EQ(db.scalar("SELECT status FROM responses WHERE request_id = '" + cancelled + "'"), "cancelled");
    EXPECT_EQ(db.scalar("SELECT error_code FROM responses WHERE request_id = '" + cancelled + "'"), "cancelled");
    cluster_.reset();  // before the database goes
}

/// The body of a chunked reply as raw_stream received it (head and chunk framing removed; a
/// chunk cut by a hang-up kept as far as it came).
std::string chunked_body(const std::string& raw) {
    auto pos = raw.find("\r\n\r\n");
    if (pos == std::string::npos) {
        return {};
    }
    pos += 4;
    std::string out;
    while (pos < raw.size()) {
        auto eol = raw.find("\r\n", pos);
        if (eol == std::string::npos) {
            break;
        }
        auto size = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
        if (size == 0) {
            break;
        }
        pos = eol + 2;
        out += raw.substr(pos, size);
        pos += size + 2;
    }
    return out;
}

/// One native SSE event: its name, id (-1: none) and data.
struct sse_event {
    std::string name;
    std::int64_t id = -1;
    std::string data;
};

/// The whole events of a native stream (a partial one at the end, cut by a hang-up, is left
/// out); keep-alive comments skipped.
std::vector<sse_event> native_events(const std::string& body) {
    std::vector<sse_event> out;
    std::size_t pos = 0;
    for (auto end = body.find("\n\n", pos); end != std::string::npos; end = body.find("\n\n", pos)) {
        std::stringstream lines{body.substr(pos, end - pos)};
        pos = end + 2;
        sse_event ev;
        std::string line;
        while (std::getline(lines, line)) {
            if (line.starts_with("event: ")) {
                ev.name = line.substr(7);
            } else if (line.starts_with("id: ")) {
                ev.id = std::stoll(line.substr(4));
            } else if (line.starts_with("data: ")) {
                ev.data += line.substr(6);
            }
        }
        if (!ev.name.empty()) {
            out.push_back(std::move(ev));
        }
    }
    return out;
}

// Issue 18, part 2: a native resumable stream ("resumable": true) dropped on one API server
// after a few events goes on (the hang-up cancels nothing) and is resumed on the other with
// Last-Event-ID: exactly the missing events, in order, each once, the done event last; the
// audit's row is ok and names the background server id.
TEST_F(compat_e2e, native_resumable_stream_dropped_on_one_server_resumes_on_the_other) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto [migrated, mlog] = run_cli("migrate-native-resume", {"migrate", "--database-url", db.url()});
    ASSERT_EQ(migrated, 0) << mlog;
    cluster_ = std::make_unique<cluster>(*url_);
    auto port_a = cluster_->start_api({"--responses-db", "on", "--database-url", db.url()});
    auto port_b = cluster_->start_api({"--responses-db", "on", "--database-url", db.url()});
    // 25 ms a token: a 60-token answer runs for 1.5 s, long enough to hang up in the middle.
    cluster_->start_worker({"--provider", "mock", "--mock-token-delay-us", "25000"});
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(cluster_->wait_for_model(port_a, model)) << cluster_->logs();
    ASSERT_TRUE(cluster_->wait_for_model(port_b, model)) << cluster_->logs();

    const std::string prompt = "Tell the long story of the llamas who waited";
    const int n = 60;
    auto body = json::parse(generate_body(model, prompt, n));
    body["resumable"] = true;
    std::string first_part;
    std::string request_id;
    std::int64_t last_id = 0;
    {
        raw_stream a{port_a, "/api/generate", body.dump()};
        ASSERT_TRUE(a.read_until("event: start", 10s)) << a.received() << cluster_->logs();
        // A few token events (however the worker groups tokens into chunks), then hang up.
        ASSERT_TRUE(wait_until(
            [&] {
                a.read_until("\n\n\n", 50ms);  // never there: reads what comes for 50 ms
                int tokens = 0;
                for (const auto& ev : native_events(chunked_body(a.received()))) {
                    tokens += ev.name == "token";
                }
                return tokens >= 3;
            },
            10s))
            << a.received();
        a.close();
        for (const auto& ev : native_events(chunked_body(a.received()))) {
            if (ev.name == "start") {
                request_id = json::parse(ev.data)["request_id"].get<std::string>();
            } else if (ev.name == "token") {
                EXPECT_GT(ev.id, last_id) << "token ids rise";
                last_id = ev.id;
                first_part += json::parse(ev.data)["content"].get<std::string>();
            } else {
                ADD_FAILURE() << "the stream ended before the hang-up: " << ev.name << " " << ev.data;
            }
        }
    }
    ASSERT_FALSE(request_id.empty());
    ASSERT_LT(first_part.size(), providers::mock_text(prompt, n).size()) << "hung up too late to test a resume";

    // A resume reads the request the audit stored (docs/architecture.md). One a moment after the
    // drop looks for it for up to a second (responses_store_itest), but the audit's first batch
    // here sits behind its partitions' creation, which a slow machine may stretch past that:
    // wait for the row rather than race the audit.
    ASSERT_TRUE(wait_until(
        [&] { return db.scalar("SELECT count(*) FROM requests WHERE request_id = '" + request_id + "'") == "1"; }, 10s))
        << cluster_->logs();
    auto resumed =
        http_request(port_b, "GET", "/api/streams/" + request_id, {}, {{"Last-Event-ID", std::to_string(last_id)}});
    ASSERT_EQ(resumed.status, 200u) << resumed.body << cluster_->logs();
    auto events = native_events(resumed.body);
    ASSERT_FALSE(events.empty()) << resumed.body;
    std::string rest;
    std::int64_t id = last_id;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& ev = events[i];
        EXPECT_GT(ev.id, id) << "event " << i << " (" << ev.name
                             << ") is not after the last one: duplicate or disorder";
        id = ev.id;
        if (i + 1 < events.size()) {
            ASSERT_EQ(ev.name, "token") << ev.data;
            rest += json::parse(ev.data)["content"].get<std::string>();
        }
    }
    const auto& done = events.back();
    ASSERT_EQ(done.name, "done") << done.data;
    EXPECT_EQ(first_part + rest, providers::mock_text(prompt, n)) << "missing or repeated text";

    // The generation ran to its end although its first client hung up: the audit has it ok.
    const std::string where = " WHERE request_id = '" + request_id + "'";
    EXPECT_TRUE(wait_until([&] { return db.scalar("SELECT status FROM responses" + where) == "ok"; }, 10s))
        << db.scalar("SELECT status FROM responses" + where);
    EXPECT_EQ(db.scalar("SELECT server_id FROM requests" + where), "bg." + request_id);
    EXPECT_EQ(db.scalar("SELECT route FROM requests" + where), "/api/generate");

    // A finished stream is replayed from the store, on either server; an unknown id is a 404.
    auto replayed = http_request(port_a, "GET", "/api/streams/" + request_id, {}, {{"Last-Event-ID", "0"}});
    ASSERT_EQ(replayed.status, 200u) << replayed.body;
    std::string whole;
    auto all = native_events(replayed.body);
    for (const auto& ev : all) {
        if (ev.name == "token") {
            whole += json::parse(ev.data)["content"].get<std::string>();
        }
    }
    EXPECT_EQ(whole, providers::mock_text(prompt, n));
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().name, "done");
    EXPECT_EQ(http_request(port_b, "GET", "/api/streams/no-such-stream").status, 404u);
    cluster_.reset();  // before the database goes
}

// With --auth keys only the key that started a resumable stream may resume it: any other key
// gets the 404 of a stream that does not exist.
TEST_F(compat_e2e, only_the_creating_key_resumes_a_native_stream) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    const std::string owner = migrate_and_create_key(db.url(), "owner", {"--models", "mock*"});
    const std::string other = migrate_and_create_key(db.url(), "other", {"--models", "mock*"});
    ASSERT_FALSE(owner.empty());
    ASSERT_FALSE(other.empty());
    cluster_ = std::make_unique<cluster>(*url_);
    auto port = cluster_->start_api({"--auth", "keys", "--responses-db", "on", "--database-url", db.url()});
    cluster_->start_worker({"--provider", "mock"});
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    auto as = [](const std::string& key) {
        return std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + key},
                                                                {"Content-Type", "application/json"}};
    };
    ASSERT_TRUE(wait_until(
        [&] { return http_request(port, "GET", "/api/models", {}, as(owner)).body.find(model) != std::string::npos; },
        30s))
        << cluster_->logs();
    auto body = json::parse(generate_body(model, "whose stream is it", 4));
    body["resumable"] = true;
    auto created = http_request(port, "POST", "/api/generate", body.dump(), as(owner));
    ASSERT_EQ(created.status, 200u) << created.body;
    const auto id = created.headers["x-request-id"];
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(wait_until(
        [&] { return db.scalar("SELECT status FROM responses WHERE request_id = '" + id + "'") == "ok"; }, 10s));
    auto stranger = http_request(port, "GET", "/api/streams/" + id, {}, as(other));
    EXPECT_EQ(stranger.status, 404u) << stranger.body;
    auto mine = http_request(port, "GET", "/api/streams/" + id, {}, as(owner));
    ASSERT_EQ(mine.status, 200u) << mine.body;
    auto events = native_events(mine.body);
    ASSERT_FALSE(events.empty()) << mine.body;
    EXPECT_EQ(events.back().name, "done");
    cluster_.reset();  // before the database goes
}

// Without --responses-db a stored response cannot be read: previous_response_id is a 400 and
// GET /v1/responses/{id} a 404, each saying why.
TEST_F(compat_e2e, responses_without_the_store_say_why_they_cannot_be_read) {
    auto port = start_cluster();
    auto created =
        http_post(port, "/v1/responses", json{{"model", model}, {"input", "hi"}, {"max_output_tokens", 2}}.dump());
    ASSERT_EQ(created.status, 200u) << created.body;
    auto id = json::parse(created.body)["id"].get<std::string>();
    auto next = http_post(port, "/v1/responses",
                          json{{"model", model}, {"input", "more"}, {"previous_response_id", id}}.dump());
    EXPECT_EQ(next.status, 400u);
    EXPECT_NE(next.body.find("--responses-db"), std::string::npos) << next.body;
    auto got = http_request(port, "GET", "/v1/responses/" + id);
    EXPECT_EQ(got.status, 404u);
    EXPECT_NE(got.body.find("--responses-db"), std::string::npos) << got.body;
    auto error = json::parse(got.body)["error"];
    EXPECT_EQ(error["type"], "invalid_request_error");
    EXPECT_EQ(error["code"], "not_found");
}

// Issue 17: images to vision models and embeddings, through both front doors and both
// upstream kinds (tests/clients/media.test.mjs), and what the audit keeps of them: each image's
// SHA-256 and size, not its bytes; the texts of an embedding request, not the vectors.
TEST_F(compat_e2e, official_clients_send_images_and_embed_through_ollama_and_openai_upstreams) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    // A 1x1 PNG (70 bytes) and its SHA-256.
    const std::string png =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    const std::string png_sha256 = "c414cd0e204de974f73753c7e28d7638e7b3691bb8b1a2bab6b25bb7fed7ce77";
    cluster_ = std::make_unique<cluster>(*url_);
    auto ollama = cluster_->start_fake_ollama({"--models", "llava:latest,nomic-embed-text:latest"});
    auto openai = cluster_->start_fake_openai({"--models", "gpt-4o,text-embedding-3-small"});
    auto port = cluster_->start_api();
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    cluster_->start_worker(
        {"--upstream", "ollama=" + url_of(ollama), "--upstream", "openai=" + url_of(openai) + "/v1"});
    cluster_->start_worker({"--provider", "mock"});
    for (const char* m :
         {"llava:latest", "nomic-embed-text:latest", "gpt-4o:latest", "text-embedding-3-small:latest", model}) {
        ASSERT_TRUE(cluster_->wait_for_model(port, m)) << m << "\n" << cluster_->logs();
    }
    json vision =
        json::array({{{"model", "llava"}, {"fake", url_of(ollama)}}, {{"model", "gpt-4o"}, {"fake", url_of(openai)}}});
    json texts = json::array({"a first text", "the second one, longer"});
    json vectors = json::array();
    json vectors4 = json::array();
    for (const auto& t : texts) {
        vectors.push_back(providers::mock_embedding(t.get<std::string>(), 0));
        vectors4.push_back(providers::mock_embedding(t.get<std::string>(), 4));
    }
    json embed_cases{{"texts", texts}, {"vectors", vectors}, {"vectors4", vectors4}};
    run_node_tests(port, "media.test.mjs",
                   {"LLMPROXY_VISION_MODELS=" + vision.dump(),
                    R"(LLMPROXY_EMBED_MODELS=["nomic-embed-text","text-embedding-3-small","mock"])",
                    "LLMPROXY_EMBED_CASES=" + embed_cases.dump(), "LLMPROXY_IMAGE=" + png});

    // 2 doors x 2 vision models, each with the image; every one stored as its digest.
    const std::string with_image =
        "SELECT count(*) FROM requests, jsonb_array_elements(messages) m, jsonb_array_elements(m->'images') i "
        "WHERE jsonb_typeof(m->'images') = 'array'";
    ASSERT_TRUE(wait_until([&] { return db.count(with_image) >= 4; }, 20s)) << cluster_->logs();
    EXPECT_EQ(db.count(with_image + " AND i->>'sha256' = '" + png_sha256 + "' AND (i->>'bytes')::int = 70"), 4);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE messages::text LIKE '%iVBORw0KGgo%'"), 0)
        << "no image bytes in the audit";
    // 3 models x (2 + 2 + 1) embedding requests at both doors (and the legacy one), their texts
    // kept in order.
    ASSERT_TRUE(wait_until([&] { return db.count("SELECT count(*) FROM requests WHERE kind = 'embed'") >= 15; }, 20s));
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE kind = 'embed' AND messages = '" + texts.dump() + "'"), 6);
    ASSERT_TRUE(wait_until(
        [&] {
            return db.count(
                       "SELECT count(*) FROM responses r JOIN requests q USING (request_id) WHERE q.kind = "
                       "'embed' AND r.status = 'ok' AND r.prompt_tokens > 0") >= 15;
        },
        20s));
}

// Issue 17, item 5: token logprobs through both front doors from both upstream kinds, and
// `user` / `metadata` kept by the audit with the request (tests/clients/logprobs.test.mjs).
TEST_F(compat_e2e, official_clients_get_logprobs_from_both_upstreams_and_the_audit_keeps_user_and_metadata) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto port = start_three_upstream_kinds(db.url());
    run_node_tests(port, "logprobs.test.mjs", {R"(LLMPROXY_LOGPROB_MODELS=["llama3.2","gpt-4o-mini"])"});
    ASSERT_TRUE(wait_until(
        [&] {
            return db.count(
                       "SELECT count(*) FROM requests WHERE extra->>'user' = 'end-user-17' AND "
                       "extra->'metadata' = '{\"team\": \"search\", \"ticket\": \"LLMP-17\"}'::jsonb") == 1;
        },
        20s))
        << cluster_->logs();
}

// Issue 17, item 5: several choices (n) with the openai SDK through an OpenAI-compatible
// upstream (asked for n), an Ollama one and the mock (n generations each), streamed by index and
// whole (tests/clients/choices.test.mjs); the audit keeps choice 0 as the text and the others in
// responses.choices.
TEST_F(compat_e2e, openai_sdk_gets_several_choices_from_both_upstreams_and_the_audit_keeps_them) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto port = start_three_upstream_kinds(db.url());
    const json models = json::array({"llama3.2", "gpt-4o-mini", model});
    run_node_tests(port, "choices.test.mjs", {"LLMPROXY_CHOICE_MODELS=" + models.dump()});
    // Per model: two n = 2 requests (one further choice each) and one n = 3 (two).
    ASSERT_TRUE(
        wait_until([&] { return db.count("SELECT count(*) FROM responses WHERE choices IS NOT NULL") >= 9; }, 20s))
        << cluster_->logs();
    EXPECT_EQ(db.count("SELECT count(*) FROM responses WHERE jsonb_array_length(choices) = 1 AND "
                       "choices->0->>'index' = '1' AND choices->0->>'text' <> '' AND text <> ''"),
              6);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses WHERE jsonb_array_length(choices) = 2 AND "
                       "choices->1->>'index' = '2' AND choices->1->>'text' <> '' AND text <> ''"),
              3);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses r JOIN requests q USING (request_id) WHERE "
                       "q.extra->>'n' = '3' AND r.completion_tokens = 27"),
              3)
        << "the usage: every choice's tokens";
}

TEST_F(compat_e2e, official_clients_send_their_key_and_surface_refusals_as_their_own_errors) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    const std::string key = migrate_and_create_key(db.url(), "clients", {"--models", "mock*"});
    ASSERT_FALSE(key.empty());
    cluster_ = std::make_unique<cluster>(*url_);
    auto port = cluster_->start_api({"--auth", "keys", "--database-url", db.url()});
    cluster_->start_worker({"--provider", "mock"});
    ASSERT_TRUE(wait_until(
        [&] {
            auto r = http_request(port, "GET", "/v1/models", {}, {{"Authorization", "Bearer " + key}});
            return r.status == 200 && r.body.find(model) != std::string::npos;
        },
        30s))
        << cluster_->logs();
    run_node_tests(port, "keys.test.mjs", {"LLMPROXY_KEY=" + key});
}

// Issue 18 part 3: the Anthropic SDK against /v1/messages with the key as x-api-key and as a
// bearer token (tests/clients/anthropic.test.mjs); the audit stores those requests with their
// flavour, route and key like any other.
TEST_F(compat_e2e, anthropic_sdk_creates_and_streams_messages_with_tools_and_gets_typed_errors) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    const std::string key = migrate_and_create_key(db.url(), "claude-code", {"--models", "mock*"});
    ASSERT_FALSE(key.empty());
    cluster_ = std::make_unique<cluster>(*url_);
    auto port = cluster_->start_api({"--auth", "keys", "--database-url", db.url()});
    cluster_->start_worker({"--provider", "mock"});
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(wait_until(
        [&] {
            auto r = http_request(port, "GET", "/v1/models", {}, {{"x-api-key", key}});
            return r.status == 200 && r.body.find(model) != std::string::npos;
        },
        30s))
        << cluster_->logs();
    run_node_tests(port, "anthropic.test.mjs", {"LLMPROXY_KEY=" + key});

    // Every generation the SDK tests ran (1 + 3 + 1 + 1 + 1 failing; the refused ones never reach
    // the broker), stored with its flavour, route and key.
    auto stored = [&] {
        try {
            return db.count(
                "SELECT count(*) FROM requests r JOIN responses s USING (request_id) "
                "WHERE r.api_flavour = 'anthropic' AND r.route = '/v1/messages'");
        } catch (const std::runtime_error&) {
            return std::int64_t{-1};
        }
    };
    EXPECT_TRUE(wait_until([&] { return stored() == 7; }, 20s)) << stored() << "\n" << cluster_->logs();
    EXPECT_EQ(db.scalar("SELECT string_agg(DISTINCT key_name, ',') FROM requests"), "claude-code");
    EXPECT_EQ(db.scalar("SELECT messages->0->>'role' FROM requests WHERE messages->0->>'content' = 'Answer briefly.' "
                        "LIMIT 1"),
              "system")
        << "the system prompt is the first message";

    // What the SDKs cannot send: no key, a body that is not JSON; both in Anthropic's shape. And
    // the raw stream, as curl sees it.
    const std::string body =
        json{{"model", "mock"}, {"max_tokens", 2}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}
            .dump();
    auto anonymous = http_request(port, "POST", "/v1/messages", body,
                                  {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}});
    EXPECT_EQ(anonymous.status, 401u) << anonymous.body;
    EXPECT_EQ(json_of(anonymous.body)["type"], "error") << anonymous.body;
    EXPECT_EQ(json_of(anonymous.body)["error"]["type"], "authentication_error") << anonymous.body;
    auto text = http_request(port, "POST", "/v1/messages", body, {{"Content-Type", "text/plain"}, {"x-api-key", key}});
    EXPECT_EQ(text.status, 415u) << text.body;
    EXPECT_EQ(json_of(text.body)["error"]["type"], "invalid_request_error") << text.body;
    auto streamed = json::parse(body);
    streamed["stream"] = true;
    auto raw = http_request(port, "POST", "/v1/messages", streamed.dump(),
                            {{"Content-Type", "application/json"}, {"x-api-key", key}});
    EXPECT_EQ(raw.status, 200u) << raw.body;
    EXPECT_EQ(raw.headers["content-type"], "text/event-stream") << raw.body;
    EXPECT_TRUE(raw.body.starts_with("event: message_start\ndata: {")) << raw.body;
    EXPECT_TRUE(raw.body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")) << raw.body;
    cluster_.reset();  // before the database goes: an audit without it holds its stop for a while
}

TEST_F(compat_e2e, curl_sees_an_openai_chat_stream_framed_like_openai) {
    auto port = start_cluster();
    const std::string prompt = "how do streams end";
    constexpr int n = 7;
    auto body = chat_request(prompt, n, true);
    body["stream_options"] = {{"include_usage", true}};
    auto r = run_curl(url_of(port) + "/v1/chat/completions", body.dump());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(r.head.starts_with("HTTP/1.1 200")) << r.head;
    EXPECT_TRUE(r.has_header("Content-Type: text/event-stream")) << r.head;
    EXPECT_TRUE(r.has_header("Transfer-Encoding: chunked")) << r.head;
    EXPECT_TRUE(r.body.ends_with("\n\ndata: [DONE]\n\n")) << r.body;
    EXPECT_EQ(r.body.find("\nevent:"), std::string::npos);
    EXPECT_EQ(r.body.find("\nid:"), std::string::npos);

    auto events = openai_events(r.body);
    // role, the tokens (a worker may send several in one chunk), finish, usage, [DONE]
    ASSERT_GE(events.size(), 5u) << r.body;
    ASSERT_LE(events.size(), static_cast<std::size_t>(n + 4)) << r.body;
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    std::string id;
    std::int64_t created = 0;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        auto c = json::parse(events[i]);
        if (i == 0) {
            id = c["id"];
            created = c["created"];
            EXPECT_TRUE(id.starts_with("chatcmpl-")) << id;
        }
        EXPECT_EQ(c["id"], id);
        EXPECT_EQ(c["created"], created);
        EXPECT_EQ(c["object"], "chat.completion.chunk");
        EXPECT_EQ(c["model"], model);
        ASSERT_TRUE(c.contains("usage")) << "include_usage: every chunk has the key";
        if (i + 2 == events.size()) {  // the usage chunk
            EXPECT_EQ(c["choices"], json::array());
            EXPECT_EQ(c["usage"]["completion_tokens"], n);
            EXPECT_EQ(c["usage"]["prompt_tokens"], providers::mock_prompt_tokens(prompt + "\n"));
            EXPECT_EQ(c["usage"]["total_tokens"], n + providers::mock_prompt_tokens(prompt + "\n"));
            continue;
        }
        EXPECT_TRUE(c["usage"].is_null());
        ASSERT_EQ(c["choices"].size(), 1u);
        const auto& choice = c["choices"][0];
        EXPECT_EQ(choice["index"], 0);
        EXPECT_TRUE(choice["logprobs"].is_null());
        if (i == 0) {
            EXPECT_EQ(choice["delta"], json({{"role", "assistant"}, {"content", ""}}));
        } else {
            EXPECT_FALSE(choice["delta"].contains("role")) << events[i];
        }
        if (i + 3 == events.size()) {  // the last choice chunk
            EXPECT_EQ(choice["delta"], json::object());
            EXPECT_EQ(choice["finish_reason"], "stop");
        } else {
            EXPECT_TRUE(choice["finish_reason"].is_null()) << events[i];
            text += choice["delta"].value("content", "");
        }
    }
    EXPECT_EQ(text, providers::mock_text(prompt, n));
}

TEST_F(compat_e2e, curl_sees_openai_completions_streamed_and_whole) {
    auto port = start_cluster();
    const std::string prompt = "a legacy completion";
    constexpr int n = 5;
    json body{{"model", model}, {"prompt", prompt}, {"max_tokens", n}, {"stream", true}};
    auto r = run_curl(url_of(port) + "/v1/completions", body.dump());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(r.head.starts_with("HTTP/1.1 200")) << r.head;
    EXPECT_TRUE(r.body.ends_with("\n\ndata: [DONE]\n\n")) << r.body;
    auto events = openai_events(r.body);
    // the tokens (several may share a chunk), finish, [DONE]
    ASSERT_GE(events.size(), 3u) << r.body;
    ASSERT_LE(events.size(), static_cast<std::size_t>(n + 2)) << r.body;
    std::string text;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
        auto c = json::parse(events[i]);
        EXPECT_TRUE(c["id"].get<std::string>().starts_with("cmpl-"));
        EXPECT_EQ(c["object"], "text_completion");
        EXPECT_FALSE(c.contains("usage"));
        const auto& choice = c["choices"][0];
        text += choice["text"].get<std::string>();
        EXPECT_EQ(choice["finish_reason"], i + 2 == events.size() ? json("stop") : json(nullptr)) << events[i];
    }
    EXPECT_EQ(text, providers::mock_text(prompt, n));

    body["stream"] = false;
    auto whole = run_curl(url_of(port) + "/v1/completions", body.dump());
    ASSERT_TRUE(whole.head.starts_with("HTTP/1.1 200")) << whole.head;
    auto j = json::parse(whole.body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["model"], model);
    EXPECT_EQ(j["choices"][0]["text"], providers::mock_text(prompt, n));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(j["usage"]["completion_tokens"], n);
}

/// Checks an Ollama NDJSON stream: done:false lines with the deltas, then one done:true line.
void check_ollama_stream(const curl_reply& r, const std::string& field, const std::string& expected, int n,
                         const std::string& asked_model) {
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(r.head.starts_with("HTTP/1.1 200")) << r.head;
    EXPECT_TRUE(r.has_header("Content-Type: application/x-ndjson")) << r.head;
    auto lines = ndjson_lines(r.body);
    // The deltas (a worker may send several tokens in one chunk), then the final object.
    ASSERT_GE(lines.size(), 2u) << r.body;
    ASSERT_LE(lines.size(), static_cast<std::size_t>(n + 1)) << r.body;
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto& l = lines[i];
        EXPECT_EQ(l["model"], asked_model);
        EXPECT_TRUE(l["created_at"].is_string() && l["created_at"].get<std::string>().ends_with("Z")) << l;
        const auto& delta = field == "message" ? l["message"]["content"] : l["response"];
        if (field == "message") {
            EXPECT_EQ(l["message"]["role"], "assistant");
        }
        if (i + 1 < lines.size()) {
            EXPECT_EQ(l["done"], false);
            EXPECT_EQ(l.size(), 4u) << "model, created_at, " << field << ", done: " << l;
            text += delta.get<std::string>();
            continue;
        }
        EXPECT_EQ(l["done"], true);
        EXPECT_EQ(delta, "");
        EXPECT_EQ(l["done_reason"], "stop");
        EXPECT_EQ(l["eval_count"], n);
        EXPECT_GT(l["prompt_eval_count"].get<std::int64_t>(), 0);
        for (const char* k : {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"}) {
            EXPECT_TRUE(l[k].is_number_integer() && l[k].get<std::int64_t>() >= 0) << k << ": " << l;
        }
        EXPECT_GT(l["total_duration"].get<std::int64_t>(), 0);
    }
    EXPECT_EQ(text, expected);
}

TEST_F(compat_e2e, curl_sees_ollama_chat_and_generate_as_ndjson) {
    auto port = start_cluster();
    const std::string prompt = "why is the sky blue";
    constexpr int n = 6;
    json chat{{"model", "mock"},
              {"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
              {"options", {{"num_predict", n}}}};
    check_ollama_stream(run_curl(url_of(port) + "/ollama/api/chat", chat.dump()), "message",
                        providers::mock_text(prompt, n), n, "mock");
    json gen{{"model", model}, {"prompt", prompt}, {"options", {{"num_predict", n}}}};
    check_ollama_stream(run_curl(url_of(port) + "/ollama/api/generate", gen.dump()), "response",
                        providers::mock_text(prompt, n), n, model);

    gen["stream"] = false;
    auto whole = run_curl(url_of(port) + "/ollama/api/generate", gen.dump());
    ASSERT_TRUE(whole.head.starts_with("HTTP/1.1 200")) << whole.head;
    EXPECT_TRUE(whole.has_header("Content-Type: application/json; charset=utf-8")) << whole.head;
    auto j = json::parse(whole.body);
    EXPECT_EQ(j["response"], providers::mock_text(prompt, n));
    EXPECT_EQ(j["done"], true);
    EXPECT_EQ(j["eval_count"], n);

    auto root = run_curl(url_of(port) + "/ollama/", "", "GET");
    EXPECT_TRUE(root.head.starts_with("HTTP/1.1 200")) << root.head;
    EXPECT_EQ(root.body, "Ollama is running");
    auto head = run_curl(url_of(port) + "/ollama/", "", "HEAD");
    EXPECT_TRUE(head.head.starts_with("HTTP/1.1 200")) << head.head;
    auto version = json::parse(run_curl(url_of(port) + "/ollama/api/version", "", "GET").body);
    EXPECT_TRUE(version["version"].is_string()) << version;
    auto tags = json::parse(run_curl(url_of(port) + "/ollama/api/tags", "", "GET").body);
    ASSERT_EQ(tags["models"].size(), 1u) << tags;
    EXPECT_EQ(tags["models"][0]["name"], model);
    EXPECT_EQ(tags["models"][0]["model"], model);
    EXPECT_TRUE(tags["models"][0]["details"].is_object());
}

// One rule for model names (normalize_model_name): every list shows name:tag, "mock" and
// "mock:latest" reach the same workers, and every reply echoes the name the client sent.
TEST_F(compat_e2e, model_names_are_listed_with_their_tag_and_echoed_as_sent) {
    auto port = start_cluster();
    const auto url = url_of(port);
    auto get = [&](const std::string& path) { return json::parse(run_curl(url + path, "", "GET").body); };
    auto native_list = get("/api/models")["models"];
    ASSERT_EQ(native_list.size(), 1u) << native_list;
    EXPECT_EQ(native_list[0]["name"], "mock:latest");
    EXPECT_EQ(native_list[0]["model"], "mock:latest");
    EXPECT_EQ(native_list[0]["workers"].size(), 1u) << "the worker serving it";
    EXPECT_GT(native_list[0]["free_slots"].get<int>(), 0) << native_list;
    ASSERT_EQ(get("/v1/models")["data"].size(), 1u);
    EXPECT_EQ(get("/v1/models")["data"][0]["id"], "mock:latest");
    EXPECT_EQ(get("/ollama/api/tags")["models"][0]["name"], "mock:latest");
    EXPECT_EQ(get("/v1/models/mock")["id"], "mock:latest") << "retrieve answers with the listed name";
    EXPECT_EQ(get("/v1/models/mock%3Alatest")["id"], "mock:latest");

    for (const std::string asked : {"mock", "mock:latest", "mock:"}) {
        SCOPED_TRACE("asked for " + asked);
        json msgs = json::array({{{"role", "user"}, {"content", "names"}}});
        auto native = json::parse(
            run_curl(url + "/api/chat", json{{"model", asked}, {"messages", msgs}, {"stream", false}}.dump()).body);
        EXPECT_EQ(native["model"], asked) << native;
        auto openai = json::parse(
            run_curl(url + "/v1/chat/completions", json{{"model", asked}, {"messages", msgs}, {"max_tokens", 2}}.dump())
                .body);
        EXPECT_EQ(openai["model"], asked) << openai;
        auto ollama = json::parse(
            run_curl(url + "/ollama/api/chat", json{{"model", asked}, {"messages", msgs}, {"stream", false}}.dump())
                .body);
        EXPECT_EQ(ollama["model"], asked) << ollama;
    }
}

// Model aliases (issue 15 item 3), from a config file's [api.model-aliases] table: the official
// clients, unchanged, ask for "gpt-4o-mini" and see it in every reply, streamed or not, and in
// the model lists; the native door says it in its start and done events; the audit stores the
// served model and the alias.
TEST_F(compat_e2e, an_alias_from_the_config_file_is_what_every_door_and_client_sees) {
    // Outside test_output_dir(): the file must exist before the cluster, whose start empties it.
    const auto config = std::filesystem::temp_directory_path() / ("llmp_alias_" + std::to_string(::getpid()) + ".toml");
    struct remove_at_end {
        std::filesystem::path p;
        ~remove_at_end() { std::filesystem::remove(p); }
    } cleanup{config};
    {
        std::ofstream f{config};
        f << "[api.model-aliases]\ngpt-4o-mini = \"mock\"\ndefault = \"mock:latest\"\n";
    }
    auto port = start_cluster({"--config", config.string()});
    const std::string alias = "gpt-4o-mini";
    ASSERT_TRUE(wait_until([&] { return http_get(port, "/v1/models").body.find(alias) != std::string::npos; }, 10s));
    run_node_tests(port, "openai.test.mjs", {}, alias);
    run_node_tests(port, "ollama.test.mjs", {}, alias);

    auto listed = json_of(http_get(port, "/api/models").body)["models"];
    ASSERT_EQ(listed.size(), 3u) << listed;  // default, gpt-4o-mini, mock:latest: each once
    EXPECT_EQ(listed[0]["name"], "default");
    EXPECT_EQ(listed[1]["name"], alias);
    EXPECT_EQ(listed[1]["alias_of"], "mock:latest");
    EXPECT_EQ(listed[1]["workers"], listed[2]["workers"]) << "an alias shows its model's workers";
    EXPECT_EQ(json_of(http_get(port, "/ollama/api/tags").body)["models"].size(), 3u);

    auto native = json_of(http_post(port, "/api/chat", chat_body("default", "alias", 2, false)).body);
    EXPECT_EQ(native["model"], "default") << native;
    auto streamed = http_post(port, "/api/generate", generate_body(alias, "alias", 2, true));
    ASSERT_EQ(streamed.status, 200u) << streamed.body;
    EXPECT_NE(streamed.body.find("\"model\":\"gpt-4o-mini\"}"), std::string::npos) << "start: " << streamed.body;
    EXPECT_NE(streamed.body.find("\"model\":\"gpt-4o-mini\""), streamed.body.rfind("\"model\":\"gpt-4o-mini\""))
        << "start and done both say the alias: " << streamed.body;
    EXPECT_EQ(streamed.body.find("mock:latest"), std::string::npos) << streamed.body;

    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        return;  // the audit half needs PostgreSQL
    }
    pg::testing::scratch_database db{*db_url};
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    auto o = http_post(
        port, "/v1/chat/completions",
        json{{"model", alias}, {"messages", json::array({{{"role", "user"}, {"content", "audit"}}})}, {"max_tokens", 2}}
            .dump());
    ASSERT_EQ(o.status, 200u) << o.body;
    const auto id = o.headers["x-request-id"];
    auto row = [&] {
        try {
            return db.scalar("SELECT model || ' ' || coalesce(model_alias, 'NULL') FROM requests WHERE request_id = '" +
                             id + "'");
        } catch (const std::runtime_error&) {
            return std::string{};
        }
    };
    ASSERT_TRUE(wait_until([&] { return !row().empty(); }, 20s)) << cluster_->logs();
    EXPECT_EQ(row(), "mock:latest gpt-4o-mini");
    EXPECT_EQ(db.scalar("SELECT model FROM responses WHERE request_id = '" + id + "'"), "mock:latest");
    cluster_.reset();  // before the database goes
}

// --media-body-limit raises the body limit of the routes that take images and embedding
// batches only; every other route keeps --body-limit.
TEST_F(compat_e2e, the_media_routes_take_larger_bodies_than_the_rest) {
    auto port = start_cluster({"--body-limit", "4096", "--media-body-limit", "65536"});
    auto mid = chat_request(std::string(20000, 'x'), 2, false).dump();
    for (const char* route : {"/v1/chat/completions", "/ollama/api/chat", "/api/chat"}) {
        auto r = http_post(port, route, mid);
        EXPECT_EQ(r.status, 200u) << route << ": " << r.body;
    }
    auto embed = http_post(port, "/v1/embeddings", json{{"model", model}, {"input", std::string(20000, 'y')}}.dump());
    EXPECT_EQ(embed.status, 200u) << embed.body;
    auto other = http_request(port, "POST", "/v1/models", mid, {{"Content-Type", "application/json"}});
    EXPECT_EQ(other.status, 413u) << other.body;
    auto huge = http_post(port, "/v1/chat/completions", chat_request(std::string(70000, 'x'), 2, false).dump());
    EXPECT_EQ(huge.status, 413u) << huge.body;
    EXPECT_NE(json_of(huge.body)["error"]["message"].get<std::string>().find("65536"), std::string::npos) << huge.body;
}

TEST_F(compat_e2e, errors_have_each_flavours_shape_and_status) {
    auto port = start_cluster({"--body-limit", "4096"});
    // 400: malformed JSON.
    auto bad = http_post(port, "/v1/chat/completions", "{\"model\": ");
    EXPECT_EQ(bad.status, 400u) << bad.body;
    auto e = json_of(bad.body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error") << bad.body;
    EXPECT_TRUE(e["message"].is_string() && e.contains("param") && e.contains("code")) << bad.body;
    auto obad = http_post(port, "/ollama/api/chat", "{\"model\": ");
    EXPECT_EQ(obad.status, 400u) << obad.body;
    EXPECT_TRUE(json_of(obad.body)["error"].is_string()) << obad.body;
    // 400: n above 16 (n 2..16 is served: choices.test.mjs).
    auto many = chat_request("x", 2, false);
    many["n"] = 17;
    EXPECT_EQ(http_post(port, "/v1/chat/completions", many.dump()).status, 400u);

    // 404: unknown model.
    auto nf = http_post(
        port, "/v1/chat/completions",
        json{{"model", "no-such-model"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}.dump());
    EXPECT_EQ(nf.status, 404u) << nf.body;
    EXPECT_EQ(json_of(nf.body)["error"]["code"], "model_not_found") << nf.body;
    EXPECT_EQ(json_of(nf.body)["error"]["type"], "invalid_request_error") << nf.body;
    auto onf = http_post(port, "/ollama/api/generate", json{{"model", "no-such-model"}, {"prompt", "hi"}}.dump());
    EXPECT_EQ(onf.status, 404u) << onf.body;
    EXPECT_EQ(json_of(onf.body), json({{"error", "model \"no-such-model\" not found, try pulling it first"}}));

    // 413: a body over --body-limit.
    auto big = chat_request(std::string(8000, 'x'), 1, false).dump();
    auto tl = http_post(port, "/v1/chat/completions", big);
    EXPECT_EQ(tl.status, 413u) << tl.body;
    EXPECT_EQ(json_of(tl.body)["error"]["type"], "invalid_request_error") << tl.body;
    EXPECT_TRUE(json_of(tl.body)["error"]["message"].is_string()) << tl.body;
    auto otl = http_post(port, "/ollama/api/chat", big);
    EXPECT_EQ(otl.status, 413u) << otl.body;
    EXPECT_TRUE(json_of(otl.body)["error"].is_string()) << otl.body;

    // An error mid-stream: an error event, no [DONE], the end of the body.
    auto failing = chat_request("fail now [[mock:fail-after=2]]", 5, true);
    auto r = run_curl(url_of(port) + "/v1/chat/completions", failing.dump());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto events = openai_events(r.body);
    ASSERT_GE(events.size(), 3u) << r.body;  // role, the 2 tokens (1 or 2 chunks), error
    ASSERT_LE(events.size(), 4u) << r.body;
    std::string before;
    for (std::size_t i = 1; i + 1 < events.size(); ++i) {
        before += json::parse(events[i])["choices"][0]["delta"]["content"].get<std::string>();
    }
    EXPECT_EQ(before, mock_prefix("fail now [[mock:fail-after=2]]", 5, 2));
    auto err = json::parse(events.back());
    EXPECT_TRUE(err["error"]["message"].is_string()) << events.back();
    EXPECT_EQ(err["error"]["type"], "server_error");
    EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
    json ofailing{{"model", "mock"}, {"prompt", "fail now [[mock:fail-after=2]]"}, {"options", {{"num_predict", 5}}}};
    auto o = run_curl(url_of(port) + "/ollama/api/generate", ofailing.dump());
    auto lines = ndjson_lines(o.body);
    ASSERT_GE(lines.size(), 2u) << o.body;
    ASSERT_LE(lines.size(), 3u) << o.body;
    EXPECT_TRUE(lines.back()["error"].is_string()) << o.body;
    EXPECT_EQ(lines.back().size(), 1u) << o.body;
}

TEST_F(compat_e2e, a_full_work_queue_is_503_with_retry_after_on_the_openai_and_ollama_routes) {
    cluster c{*url_};
    auto port = c.start_api({"--work-queue-max-length", "2"});
    c.start_worker({"--provider", "mock", "--concurrency", "1", "--work-queue-max-length", "2"});
    ASSERT_TRUE(c.wait_for_model(port, model)) << c.logs();
    // One request in flight (unacked: not counted by x-max-length), two waiting: full.
    std::vector<std::unique_ptr<raw_stream>> held;
    for (int i = 0; i < 3; ++i) {
        json slow{{"model", "mock"},
                  {"prompt", "hold " + std::to_string(i)},
                  {"options", {{"num_predict", 200}, {"mock_token_delay_ms", 50}}}};
        held.push_back(std::make_unique<raw_stream>(port, "/api/generate", slow.dump()));
        ASSERT_TRUE(held.back()->read_until("event: start", 10s)) << held.back()->received();
        if (i == 0) {
            // The first is taken by the worker before the next ones queue.
            ASSERT_TRUE(held.back()->read_until("event: token", 10s)) << held.back()->received();
        }
    }
    // The same status and Retry-After as the native route (common/errc.hpp: queue_full).
    auto r = http_post(port, "/v1/chat/completions", chat_request("one too many", 3, false).dump());
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "1");
    auto e = json_of(r.body)["error"];
    EXPECT_EQ(e["code"], "queue_full") << r.body;
    EXPECT_EQ(e["type"], "server_error") << r.body;
    EXPECT_TRUE(e["message"].is_string()) << r.body;
    EXPECT_EQ(r.headers.count("x-should-retry"), 0u) << "the SDKs retry it";
    auto s = http_post(port, "/v1/chat/completions", chat_request("one too many", 3, true).dump());
    EXPECT_EQ(s.status, 503u) << "streamed requests too: " << s.body;
    json ochat{{"model", "mock"},
               {"messages", json::array({{{"role", "user"}, {"content", "one too many"}}})},
               {"stream", false},
               {"options", {{"num_predict", 3}}}};
    auto o = http_post(port, "/ollama/api/chat", ochat.dump());
    EXPECT_EQ(o.status, 503u) << o.body;
    EXPECT_EQ(o.headers["retry-after"], "1");
    EXPECT_TRUE(json_of(o.body)["error"].is_string()) << o.body;
}

TEST_F(compat_e2e, the_audit_records_each_requests_flavour_route_and_options) {
    auto db_url = pg::testing::test_database_url();
    if (!db_url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*db_url};
    auto port = start_cluster();
    cluster_->start_audit(db.url(), {"--batch-ms", "20"});
    auto chat = chat_request("audit me", 3, false);
    chat["temperature"] = 0.25;
    chat["user"] = "user-42";
    auto o = http_post(port, "/v1/chat/completions", chat.dump());
    ASSERT_EQ(o.status, 200u) << o.body;
    auto g = http_post(port, "/ollama/api/generate",
                       json{{"model", "mock"}, {"prompt", "audit me too"}, {"stream", false}}.dump());
    ASSERT_EQ(g.status, 200u) << g.body;
    auto n = http_post(port, "/api/chat", chat_body("mock", "and me", 2, false));
    ASSERT_EQ(n.status, 200u) << n.body;

    // The audit creates its tables when it has connected: until then the count throws.
    auto stored = [&] {
        try {
            return db.count("SELECT count(*) FROM requests r JOIN responses s USING (request_id)");
        } catch (const std::runtime_error&) {
            return std::int64_t{-1};
        }
    };
    ASSERT_TRUE(wait_until([&] { return stored() == 3; }, 20s)) << cluster_->logs();
    EXPECT_EQ(db.scalar("SELECT string_agg(api_flavour || ' ' || route || ' ' || kind, ', ' ORDER BY api_flavour) "
                        "FROM requests"),
              "native /api/chat chat, ollama /ollama/api/generate generate, openai /v1/chat/completions chat")
        << cluster_->logs();
    // The OpenAI request as the provider gets it: options in Ollama's names, the user kept.
    auto openai_id = o.headers["x-request-id"];
    EXPECT_EQ(db.scalar("SELECT options::text FROM requests WHERE request_id = '" + openai_id + "'"),
              R"({"num_predict": 3, "temperature": 0.25})");
    EXPECT_EQ(db.scalar("SELECT extra->>'user' FROM requests WHERE request_id = '" + openai_id + "'"), "user-42");
    EXPECT_EQ(db.scalar("SELECT text FROM responses WHERE request_id = '" + openai_id + "'"),
              providers::mock_text("audit me", 3));
    cluster_.reset();  // before the database goes: an audit without it holds its stop for a while
}

}  // namespace
}  // namespace llmp::testing
