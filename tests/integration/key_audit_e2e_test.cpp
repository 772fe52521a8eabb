// The API key in the audit, end to end (issue 14 item 7): an API server with `--auth keys`, a
// mock worker, the audit service and the monitor against the real RabbitMQ and a scratch
// PostgreSQL. Requests made with two keys land with the right key id and name in `requests` and
// `responses` (a verdict the API publishes too); the monitor filters and aggregates by key and
// exports usage per key per day as CSV and shows each key's limits and remaining budget; the
// dashboard's Revoke revokes (the API then answers 401); no stored row holds a key's plaintext,
// hash or prefix.
// With `--auth none` the key columns are NULL and the same endpoints work.

#include "e2e_common.hpp"
#include "e2e_database.hpp"
#include "support/child_process.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <unistd.h>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using header_list = std::vector<std::pair<std::string, std::string>>;
using pg::testing::scratch_database;

/// Runs `llmproxy <args...>` to its end, its log in `dir` (the test's test_output_dir()).
std::pair<int, std::string> run_llmproxy(const std::filesystem::path& dir, const std::string& name,
                                         std::vector<std::string> args) {
    args.insert(args.begin(), LLMPROXY_BIN);
    child_process p{name, std::move(args), {}, dir / (name + ".log")};
    auto code = p.wait_exit(30s);
    return {code.value_or(-1), p.log()};
}

/// Creates a key named `name` with `llmproxy keys create`; returns its plaintext.
std::string create_key(const std::filesystem::path& dir, const scratch_database& db, const std::string& name) {
    auto [code, log] =
        run_llmproxy(dir, "keys-create-" + name.substr(0, 4),
                     {"keys", "create", "--name", name, "--models", "mock*", "--database-url", db.url()});
    EXPECT_EQ(code, 0) << log;
    std::smatch m;
    if (!std::regex_search(log, m, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) {
        ADD_FAILURE() << "no key in: " << log;
        return {};
    }
    return m.str();
}

std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

header_list with_key(const std::string& key) {
    return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
}

json get_json(unsigned port, const std::string& target) {
    auto r = http_get(port, target);
    EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
    return json_of(r.body);
}

/// Rows of /api/requests with `query` (one page of up to 500 is enough here).
std::vector<json> listed(unsigned monitor, const std::string& query) {
    auto j = get_json(monitor, "/api/requests?limit=500" + query);
    std::vector<json> out;
    for (const auto& r : j["requests"]) {
        out.push_back(r);
    }
    return out;
}

/// Rows of `tables` whose text (every column, as the row's text form) contains `needle`.
std::int64_t rows_containing(const scratch_database& db, const std::string& needle,
                             std::initializer_list<const char*> tables) {
    std::int64_t n = 0;
    for (const char* t : tables) {
        n += db.count(std::string{"SELECT count(*) FROM "} + t + " x WHERE strpos(x::text, '" + needle + "') > 0");
    }
    return n;
}

const std::initializer_list<const char*> audit_tables{"requests", "responses", "response_chunks", "workers"};

/// The usage row of `key_id` (null: the keyless group) in a list of usage rows, or null.
json usage_of(const json& rows, const json& key_id) {
    for (const auto& r : rows) {
        if (r["key_id"] == key_id) {
            return r;
        }
    }
    return nullptr;
}

/// Runs `node web/tests/keys.test.mjs` (the dashboard's key column, filter and Keys section in
/// headless Chromium) with `env`; returns its exit code and output.
std::pair<int, std::string> run_browser_test(std::vector<std::string> env, const std::filesystem::path& log) {
    std::string node;
    for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
        if (::access((std::string{dir} + "/node").c_str(), X_OK) == 0) {
            node = std::string{dir} + "/node";
            break;
        }
    }
    if (node.empty()) {
        return {127, "node is not installed"};
    }
    child_process p{"node", {node, std::string{LLMPROXY_SOURCE_DIR} + "/web/tests/keys.test.mjs"}, std::move(env), log};
    auto code = p.wait_exit(120s);
    if (!code) {
        p.stop(1s);
        return {124, "the browser test did not finish within 2 minutes\n" + p.log()};
    }
    return {*code, p.log()};
}

TEST(key_audit_e2e, requests_carry_their_key_into_the_audit_and_the_monitor_counts_per_key) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    const auto out = test_output_dir();
    auto [migrated, mlog] = run_llmproxy(out, "migrate", {"migrate", "--database-url", db.url()});
    ASSERT_EQ(migrated, 0) << mlog;
    const std::string name_a = "team-a";
    const std::string name_b = "billing, \"B\"";  // the CSV must quote it
    const std::string key_a = create_key(out, db, name_a);
    const std::string key_b = create_key(out, db, name_b);
    ASSERT_FALSE(key_a.empty() || key_b.empty());
    const std::string id_a = db.scalar("SELECT id::text FROM api_keys WHERE name = 'team-a'");
    const std::string id_b = db.scalar("SELECT id::text FROM api_keys WHERE name <> 'team-a'");
    // Limits for the keys page, set as an operator would (`keys update`).
    auto [updated, ulog] = run_llmproxy(out, "keys-update",
                                        {"keys", "update", name_a, "--rpm", "600", "--daily-tokens", "100000",
                                         "--monthly-tokens", "2000000", "--database-url", db.url()});
    ASSERT_EQ(updated, 0) << ulog;

    cluster c{amqp_url};
    auto api = c.start_api({"--auth", "keys", "--database-url", db.url()});
    c.start_worker({"--provider", "mock"});
    c.start_audit(db.url(), {"--batch-ms", "20", "--audit-chunks"});
    auto mon = c.start_monitor(db.url());
    ASSERT_TRUE(wait_until(
        [&] {
            return http_request(api, "GET", "/api/models", {}, with_key(key_a)).body.find("mock:latest") !=
                   std::string::npos;
        },
        30s))
        << c.logs();

    // Key A: three doors, one failing generation and one the API ends itself (a verdict).
    struct call {
        std::string target, body;
        header_list headers;
        unsigned status;
    };
    const std::vector<call> calls{
        {"/api/chat", chat_body("mock", "a native chat", 3, true), with_key(key_a), 200},
        {"/v1/chat/completions",
         json{{"model", "mock"}, {"messages", {{{"role", "user"}, {"content", "a v1 chat"}}}}, {"max_tokens", 4}}
             .dump(),
         with_key(key_a), 200},
        {"/ollama/api/generate",
         json{{"model", "mock"}, {"prompt", "an ollama generate"}, {"stream", false}, {"options", {{"num_predict", 2}}}}
             .dump(),
         with_key(key_a), 200},
        {"/api/chat", chat_body("mock", "[[mock:fail]] this one fails", 3, false), with_key(key_a), 502},
        {"/api/chat",
         json{{"model", "mock"},
              {"messages", {{{"role", "user"}, {"content", "too slow for its deadline"}}}},
              {"stream", false},
              {"options", {{"num_predict", 50}, {"mock_token_delay_ms", 100}}}}
             .dump(),
         [&] {
             auto h = with_key(key_a);
             h.emplace_back("X-Request-Timeout-Ms", "300");
             return h;
         }(),
         504},
        {"/api/generate", generate_body("mock", "b generates", 5, false), with_key(key_b), 200},
        {"/v1/chat/completions",
         json{{"model", "mock"},
              {"messages", {{{"role", "user"}, {"content", "b chats"}}}},
              {"stream", true},
              {"max_tokens", 3}}
             .dump(),
         with_key(key_b), 200},
    };
    for (const auto& k : calls) {
        auto r = http_request(api, "POST", k.target, k.body, k.headers);
        EXPECT_EQ(r.status, k.status) << k.target << " " << k.body << ": " << r.body;
    }
    // Refused requests are not audited (they never reach the broker).
    EXPECT_EQ(http_post(api, "/api/chat", chat_body("mock", "no key", 2, false)).status, 401u);

    constexpr std::int64_t total = 7, of_a = 5, of_b = 2;
    ASSERT_TRUE(wait_until(
        [&] {
            return db.count("SELECT count(*) FROM requests") == total &&
                   db.count("SELECT count(*) FROM responses") == total &&
                   db.count("SELECT count(*) FROM responses WHERE reported_by = 'both'") == 1;
        },
        30s))
        << db.count("SELECT count(*) FROM responses") << "\n"
        << c.logs().substr(0, 20000);

    // ---- the rows: id and name of the key that admitted each request, in both tables ----
    for (const char* table : {"requests", "responses"}) {
        SCOPED_TRACE(table);
        const std::string t = table;
        EXPECT_EQ(db.count("SELECT count(*) FROM " + t + " WHERE key_id = '" + id_a + "' AND key_name = 'team-a'"),
                  of_a);
        EXPECT_EQ(db.count("SELECT count(*) FROM " + t + " WHERE key_id = '" + id_b +
                           "' AND key_name = " + "'billing, \"B\"'"),
                  of_b);
        EXPECT_EQ(db.count("SELECT count(*) FROM " + t + " WHERE key_id IS NULL OR key_name IS NULL"), 0);
    }
    EXPECT_EQ(db.scalar("SELECT key_name || '|' || error_code FROM responses WHERE reported_by = 'both'"),
              "team-a|timeout")
        << "the API's verdict and the worker's report both carry the key";
    EXPECT_EQ(db.count("SELECT count(*) FROM requests q JOIN responses r USING (request_id) "
                       "WHERE q.key_id IS DISTINCT FROM r.key_id"),
              0);

    // ---- no stored row holds a key (anywhere), its hash or its prefix (outside api_keys) ----
    for (const auto& key : {key_a, key_b}) {
        EXPECT_EQ(
            rows_containing(db, key.substr(5), {"requests", "responses", "response_chunks", "workers", "api_keys"}), 0)
            << "a key's secret part is stored";
        const std::string hash =
            db.scalar("SELECT key_hash FROM api_keys WHERE key_prefix = '" + key.substr(0, 12) + "'");
        ASSERT_EQ(hash.size(), 64u);
        EXPECT_EQ(rows_containing(db, hash, audit_tables), 0);
        EXPECT_EQ(rows_containing(db, key.substr(0, 12), audit_tables), 0);
    }
    EXPECT_EQ(c.logs().find(key_a.substr(5)), std::string::npos);

    // ---- the monitor: key name in list and detail rows, the key= filter ----
    auto all = listed(mon, "");
    ASSERT_EQ(all.size(), static_cast<std::size_t>(total));
    std::map<std::string, int> names;
    for (const auto& r : all) {
        names[r.value("key_name", "?")] += 1;
        EXPECT_EQ(r["key_id"], r["key_name"] == name_a ? id_a : id_b);
    }
    EXPECT_EQ(names[name_a], of_a);
    EXPECT_EQ(names[name_b], of_b);
    EXPECT_EQ(listed(mon, "&key=" + url_encode(name_a)).size(), static_cast<std::size_t>(of_a)) << "by name";
    EXPECT_EQ(listed(mon, "&key=" + url_encode(name_b)).size(), static_cast<std::size_t>(of_b)) << "by name";
    EXPECT_EQ(listed(mon, "&key=" + id_b).size(), static_cast<std::size_t>(of_b)) << "by id";
    EXPECT_EQ(listed(mon, "&key=" + id_a + "&status=error").size(), 2u) << "combined with another filter";
    EXPECT_TRUE(listed(mon, "&key=nobody").empty());
    auto detail = get_json(mon, "/api/requests/" + all.front().value("request_id", ""));
    EXPECT_EQ(detail["request"]["key_name"], all.front()["key_name"]);
    EXPECT_EQ(detail["response"]["key_id"], all.front()["key_id"]);

    // ---- aggregates per key in the window, from what the database holds ----
    auto expect_usage = [&](const json& u, const std::string& id, std::int64_t n, const std::string& what) {
        SCOPED_TRACE(what);
        ASSERT_TRUE(u.is_object()) << id;
        const std::string where = " FROM responses WHERE key_id = '" + id + "'";
        EXPECT_EQ(u["received"], n);
        EXPECT_EQ(u["requests"], n);
        EXPECT_EQ(u["errors"], db.count("SELECT count(*)" + where + " AND status = 'error'"));
        EXPECT_EQ(u["prompt_tokens"], db.count("SELECT sum(prompt_tokens)" + where));
        EXPECT_EQ(u["completion_tokens"], db.count("SELECT sum(completion_tokens)" + where));
        EXPECT_EQ(u["total_tokens"],
                  u["prompt_tokens"].get<std::int64_t>() + u["completion_tokens"].get<std::int64_t>());
        EXPECT_GT(u["completion_tokens"].get<std::int64_t>(), 0);
    };
    auto keys = get_json(mon, "/api/usage/keys?window=1h");
    ASSERT_EQ(keys["keys"].size(), 2u) << keys.dump();
    expect_usage(usage_of(keys["keys"], id_a), id_a, of_a, "window, key A");
    expect_usage(usage_of(keys["keys"], id_b), id_b, of_b, "window, key B");
    EXPECT_EQ(usage_of(keys["keys"], id_a)["errors"], 2) << "the failure and the deadline";
    EXPECT_EQ(usage_of(keys["keys"], id_b)["key_name"], name_b);
    EXPECT_EQ(usage_of(keys["keys"], id_b)["revoked"], false);
    EXPECT_EQ(http_get(mon, "/api/usage/keys?window=1y").status, 400u);

    // ---- per key per day, as JSON and as CSV ----
    const std::string today = db.scalar("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
    auto daily = get_json(mon, "/api/usage/daily");
    ASSERT_EQ(daily["days"].size(), 2u) << daily.dump();
    for (const auto& d : daily["days"]) {
        EXPECT_EQ(d["day"], today);
    }
    expect_usage(usage_of(daily["days"], id_a), id_a, of_a, "daily, key A");
    expect_usage(usage_of(daily["days"], id_b), id_b, of_b, "daily, key B");
    EXPECT_EQ(http_get(mon, "/api/usage/daily?from=2020-01-01&to=2020-01-02").body,
              json({{"from_ms", 1577836800000}, {"to_ms", 1577923200000}, {"days", json::array()}}).dump())
        << "a range without traffic";
    EXPECT_EQ(http_get(mon, "/api/usage/daily?from=tomorrow").status, 400u);

    auto csv = http_get(mon, "/api/usage/daily.csv");
    ASSERT_EQ(csv.status, 200u) << csv.body;
    EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8");
    EXPECT_NE(csv.headers["content-disposition"].find("attachment; filename=\"llmproxy-usage-"), std::string::npos)
        << csv.headers["content-disposition"];
    const auto a = usage_of(daily["days"], id_a);
    const auto b = usage_of(daily["days"], id_b);
    auto csv_line = [&](const json& u, const std::string& quoted_name) {
        std::string line = today + "," + u["key_id"].get<std::string>() + "," + quoted_name;
        for (const char* k :
             {"received", "requests", "errors", "cancelled", "prompt_tokens", "completion_tokens", "total_tokens"}) {
            line += "," + std::to_string(u[k].get<std::int64_t>());
        }
        return line + "\r\n";
    };
    // Ordered by day, then key name: "billing..." before "team-a".
    EXPECT_EQ(
        csv.body,
        "day,key_id,key_name,received,requests,errors,cancelled,prompt_tokens,completion_tokens,total_tokens\r\n" +
            csv_line(b, "\"billing, \"\"B\"\"\"") + csv_line(a, "team-a"));
    EXPECT_EQ(csv.body.find(key_a.substr(5)), std::string::npos);

    // ---- limits and what is left of the budgets, for the keys page ----
    auto used_by = [&](const std::string& id) {
        return db.count(
            "SELECT coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0) "
            "FROM responses WHERE key_id = '" +
            id + "'");
    };
    const std::int64_t used_a = used_by(id_a), used_b = used_by(id_b);
    ASSERT_GT(used_a, 0);
    auto budgets = get_json(mon, "/api/usage/budgets");
    json budget_a, budget_b;
    for (const auto& k : budgets["keys"]) {
        (k["key_id"] == id_a ? budget_a : budget_b) = k;
    }
    ASSERT_EQ(budgets["keys"].size(), 2u) << budgets.dump();
    EXPECT_EQ(budget_a["key_name"], name_a);
    EXPECT_EQ(budget_a["rpm"], 600);
    EXPECT_EQ(budget_a["daily_tokens"], 100000);
    EXPECT_EQ(budget_a["monthly_tokens"], 2000000);
    EXPECT_TRUE(budget_a["tpm"].is_null());
    EXPECT_EQ(budget_a["used_today"], used_a);
    EXPECT_EQ(budget_a["used_month"], used_a);
    EXPECT_EQ(budget_a["remaining_today"], 100000 - used_a);
    EXPECT_EQ(budget_a["remaining_month"], 2000000 - used_a);
    EXPECT_EQ(budget_b["used_today"], used_b);
    EXPECT_TRUE(budget_b["daily_tokens"].is_null() && budget_b["remaining_today"].is_null()) << budget_b.dump();
    EXPECT_EQ(budgets.dump().find(key_a.substr(0, 12)), std::string::npos) << "no key prefix for viewers";

    // ---- the dashboard: key column, key filter, Keys section ----
    ASSERT_TRUE(std::filesystem::exists(std::filesystem::path{LLMPROXY_SOURCE_DIR} / "web" / "dist" / "index.html"))
        << "build the dashboard first: cd web && npm ci && npm run build";
    json expect{{"total", total},
                {"keys",
                 {{{"id", id_a},
                   {"name", name_a},
                   {"requests", of_a},
                   {"rpm", 600},
                   {"used_today", used_a},
                   {"daily_tokens", 100000},
                   {"monthly_tokens", 2000000}},
                  {{"id", id_b},
                   {"name", name_b},
                   {"requests", of_b},
                   {"rpm", nullptr},
                   {"used_today", used_b},
                   {"daily_tokens", nullptr},
                   {"monthly_tokens", nullptr}}}},
                {"revoke", id_b}};
    auto out_dir = c.dir() / "browser";
    std::filesystem::create_directories(out_dir);
    auto [browser, output] = run_browser_test({"MONITOR_URL=http://127.0.0.1:" + std::to_string(mon),
                                               "EXPECT_JSON=" + expect.dump(), "OUTPUT_DIR=" + out_dir.string()},
                                              out_dir / "node.log");
    EXPECT_EQ(browser, 0) << output;
    // The browser's Revoke revoked key B: the API refuses it within its reload.
    EXPECT_EQ(db.count("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL AND id::text = '" + id_b + "'"), 1);
    http_reply refused;
    EXPECT_TRUE(wait_until(
        [&] {
            refused = http_request(api, "POST", "/api/generate", generate_body("mock", "after revoke", 1, false),
                                   with_key(key_b));
            return refused.status == 401u;
        },
        5s))
        << refused.status << " " << refused.body;

    // Revoked keys keep their history, marked as revoked.
    auto [revoked, rlog] =
        run_llmproxy(c.dir(), "keys-revoke", {"keys", "revoke", "team-a", "--database-url", db.url()});
    ASSERT_EQ(revoked, 0) << rlog;
    EXPECT_EQ(usage_of(get_json(mon, "/api/usage/keys?window=1h")["keys"], id_a)["revoked"], true);
    EXPECT_EQ(listed(mon, "&key=team-a").size(), static_cast<std::size_t>(of_a));
}

TEST(key_audit_e2e, without_keys_the_key_columns_are_null_and_the_usage_endpoints_still_answer) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto api = c.start_api();  // --auth none, the default
    c.start_worker({"--provider", "mock"});
    c.start_audit(db.url(), {"--batch-ms", "20"});
    auto mon = c.start_monitor(db.url());
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();
    EXPECT_EQ(http_post(api, "/api/chat", chat_body("mock", "open one", 3, false)).status, 200u);
    EXPECT_EQ(http_post(api, "/api/generate", generate_body("mock", "open two", 2, false)).status, 200u);
    ASSERT_TRUE(wait_until(
        [&] {
            return db.count("SELECT count(*) FROM requests") == 2 && db.count("SELECT count(*) FROM responses") == 2;
        },
        30s))
        << c.logs().substr(0, 20000);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE key_id IS NULL AND key_name IS NULL"), 2);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses WHERE key_id IS NULL AND key_name IS NULL"), 2);

    auto all = listed(mon, "");
    ASSERT_EQ(all.size(), 2u);
    for (const auto& r : all) {
        EXPECT_TRUE(r["key_id"].is_null());
        EXPECT_TRUE(r["key_name"].is_null());
    }
    EXPECT_TRUE(listed(mon, "&key=anyone").empty());
    auto keys = get_json(mon, "/api/usage/keys?window=5m");
    ASSERT_EQ(keys["keys"].size(), 1u) << keys.dump();
    EXPECT_TRUE(keys["keys"][0]["key_id"].is_null());
    EXPECT_EQ(keys["keys"][0]["requests"], 2);
    EXPECT_EQ(keys["keys"][0]["received"], 2);
    auto csv = http_get(mon, "/api/usage/daily.csv");
    ASSERT_EQ(csv.status, 200u);
    const std::string today = db.scalar("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
    EXPECT_NE(csv.body.find("\r\n" + today + ",,,2,2,0,0,"), std::string::npos) << csv.body;
}

}  // namespace
}  // namespace llmp::testing
