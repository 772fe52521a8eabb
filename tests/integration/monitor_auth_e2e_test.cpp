// The monitor's access control end to end (issue 14, item 5): a `llmproxy monitor --auth keys`
// process over a scratch PostgreSQL database with one stored request, keys made with
// `llmproxy keys create --role`. No credential: 401 on every JSON route; a user key: 403; a
// viewer: the numbers, no texts, 403 for a text search; an admin: everything. The login sets an
// HttpOnly, SameSite=Strict cookie that works until logout; a revoked admin key (bearer and
// session) stops working within 2 s; a foreign Host and a cross-origin POST are refused; the
// keys REST API creates (with limits), lists, updates and revokes keys for admins only, and a
// limit changed over PATCH holds on an API server within 2 s.

#include "e2e_common.hpp"
#include "e2e_database.hpp"
#include "support/child_process.hpp"

#include <cstdlib>
#include <regex>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using header_list = std::vector<std::pair<std::string, std::string>>;

constexpr const char* secret_prompt = "SECRET-PROMPT-4711";
constexpr const char* secret_answer = "SECRET-ANSWER-0815";

/// `llmproxy keys create --role <role>`; the plaintext key it printed.
std::string create_key(const std::string& db_url, const std::string& name, const std::string& role) {
    auto [code, log] =
        run_cli("keys-create-" + name, {"keys", "create", "--name", name, "--role", role, "--database-url", db_url});
    EXPECT_EQ(code, 0) << log;
    std::smatch m;
    if (!std::regex_search(log, m, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) {
        ADD_FAILURE() << log;
        return {};
    }
    return m.str();
}

header_list bearer(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
}

http_reply get(unsigned port, const std::string& target, header_list h = {}) {
    return http_request(port, "GET", target, {}, h);
}

/// One stored request with a prompt and an answer the viewer must never see.
void store_one_request(const pg::testing::scratch_database& db) {
    auto c = db.connect();
    ASSERT_TRUE(
        c->exec("INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, "
                "stream, messages, options) VALUES ('req-1', now() - interval '5 seconds', 's1', 'native', "
                "'/api/chat', 'chat', 'mock', false, '[{\"role\":\"user\",\"content\":\"" +
                std::string{secret_prompt} + "\"}]', '{\"system\":\"" + secret_prompt +
                "\"}');"
                "INSERT INTO responses (request_id, status, worker_id, model, text, completion_tokens, "
                "ttft_ms, duration_ms, error_message, completed_at) VALUES ('req-1', 'ok', 'w1', 'mock', '" +
                std::string{secret_answer} + "', 7, 12.5, 40.0, '" + secret_answer + "', now())"));
}

struct monitor_fixture {
    pg::testing::scratch_database db;
    cluster c;
    unsigned port = 0;
    std::string admin, viewer, user;

    monitor_fixture(const std::string& db_url, const std::string& amqp_url, std::vector<std::string> args = {})
        : db{db_url}, c{amqp_url} {
        auto [migrated, mlog] = run_cli("migrate", {"migrate", "--database-url", db.url()});
        EXPECT_EQ(migrated, 0) << mlog;
        admin = create_key(db.url(), "ops-admin", "admin");
        viewer = create_key(db.url(), "ops-viewer", "viewer");
        user = create_key(db.url(), "app-user", "user");
        store_one_request(db);
        args.insert(args.begin(), {"--auth", "keys"});
        port = c.start_monitor(db.url(), std::move(args));
    }
};

const std::vector<std::string> json_routes = {
    "/api/overview", "/api/timeseries",     "/api/models",  "/api/workers", "/api/queues", "/api/status",
    "/api/requests", "/api/requests/req-1", "/api/session", "/api/keys",    "/api/nope"};

TEST(monitor_auth_e2e, every_json_route_needs_a_credential_and_viewers_see_no_texts) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url};
    const unsigned mon = f.port;

    // Open: probes and Prometheus; the dashboard's files (no data in them) for its login form.
    EXPECT_EQ(get(mon, "/healthz").status, 200u);
    EXPECT_EQ(get(mon, "/metrics").status, 200u);
    for (const auto& route : json_routes) {
        auto r = get(mon, route);
        EXPECT_EQ(r.status, 401u) << route << ": " << r.body;
        EXPECT_EQ(json_of(r.body)["error"]["code"], "invalid_api_key") << route;
        EXPECT_EQ(r.headers["www-authenticate"].rfind("Bearer", 0), 0u) << route;
        EXPECT_EQ(get(mon, route, bearer("llmp_not-a-key")).status, 401u) << route;
        EXPECT_EQ(get(mon, route, {{"Cookie", "llmp_session=forged"}}).status, 401u) << route;
        auto u = get(mon, route, bearer(f.user));
        EXPECT_EQ(u.status, 403u) << route << ": a user key calls the API, not the monitor: " << u.body;
        EXPECT_EQ(r.body.find(secret_prompt), std::string::npos);
    }

    // A viewer: the numbers.
    auto overview = get(mon, "/api/overview?window=5m", bearer(f.viewer));
    EXPECT_EQ(overview.status, 200u) << overview.body;
    EXPECT_EQ(json_of(overview.body)["requests"], 1) << overview.body;
    auto session = json_of(get(mon, "/api/session", bearer(f.viewer)).body);
    EXPECT_EQ(session["role"], "viewer");
    EXPECT_EQ(session["texts"], false);
    auto list = get(mon, "/api/requests", bearer(f.viewer));
    ASSERT_EQ(list.status, 200u) << list.body;
    auto lj = json_of(list.body);
    ASSERT_EQ(lj["requests"].size(), 1u) << list.body;
    EXPECT_EQ(lj["requests"][0]["completion_tokens"], 7);
    EXPECT_EQ(lj["texts_hidden"], true);
    EXPECT_EQ(list.body.find("SECRET"), std::string::npos) << list.body;
    auto detail = get(mon, "/api/requests/req-1", bearer(f.viewer));
    ASSERT_EQ(detail.status, 200u) << detail.body;
    EXPECT_EQ(json_of(detail.body)["response"]["ttft_ms"], 12.5) << detail.body;
    EXPECT_EQ(detail.body.find("SECRET"), std::string::npos) << detail.body;
    auto search = get(mon, "/api/requests?q=SECRET", bearer(f.viewer));
    EXPECT_EQ(search.status, 403u) << search.body;
    EXPECT_EQ(json_of(search.body)["error"]["code"], "forbidden");
    EXPECT_EQ(get(mon, "/api/keys", bearer(f.viewer)).status, 403u) << "key admin is for admins";

    // An admin: the texts too.
    auto adetail = get(mon, "/api/requests/req-1", bearer(f.admin));
    ASSERT_EQ(adetail.status, 200u) << adetail.body;
    EXPECT_NE(adetail.body.find(secret_prompt), std::string::npos);
    EXPECT_EQ(json_of(adetail.body)["response"]["text"], secret_answer);
    auto asearch = get(mon, "/api/requests?q=secret-prompt", bearer(f.admin));
    ASSERT_EQ(asearch.status, 200u) << asearch.body;
    EXPECT_EQ(json_of(asearch.body)["requests"].size(), 1u);
    EXPECT_NE(asearch.body.find(secret_prompt), std::string::npos) << "the admin's preview";
}

/// The Set-Cookie of a login answer, split into its value and its attributes.
struct set_cookie {
    std::string id;
    std::string attributes;
};
set_cookie parse_set_cookie(const std::string& v) {
    auto eq = v.find('=');
    auto semi = v.find(';');
    return {v.substr(eq + 1, semi - eq - 1), v.substr(semi)};
}

TEST(monitor_auth_e2e, login_sets_a_strict_httponly_cookie_that_works_until_logout_or_revocation) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url};
    const unsigned mon = f.port;
    const header_list json_ct{{"Content-Type", "application/json"}};

    auto bad = http_request(mon, "POST", "/api/login", json{{"key", "llmp_wrong"}}.dump(), json_ct);
    EXPECT_EQ(bad.status, 401u) << bad.body;
    EXPECT_EQ(bad.headers.count("set-cookie"), 0u);
    EXPECT_EQ(http_request(mon, "POST", "/api/login", json{{"key", f.user}}.dump(), json_ct).status, 403u);

    auto login = http_request(mon, "POST", "/api/login", json{{"key", f.admin}}.dump(), json_ct);
    ASSERT_EQ(login.status, 200u) << login.body;
    EXPECT_EQ(json_of(login.body)["role"], "admin");
    EXPECT_EQ(login.body.find(f.admin), std::string::npos);
    auto sc = parse_set_cookie(login.headers["set-cookie"]);
    EXPECT_EQ(login.headers["set-cookie"].rfind("llmp_session=", 0), 0u) << login.headers["set-cookie"];
    EXPECT_GE(sc.id.size(), 43u);
    EXPECT_EQ(sc.id.find("llmp_"), std::string::npos) << "the session id is not the key";
    for (auto attr : {"; HttpOnly", "; SameSite=Strict", "; Path=/", "; Max-Age=43200"}) {
        EXPECT_NE(sc.attributes.find(attr), std::string::npos) << attr << " in " << sc.attributes;
    }
    EXPECT_EQ(sc.attributes.find("Secure"), std::string::npos) << "plain HTTP without a TLS proxy";
    // Behind a TLS proxy (auto): Secure.
    auto tls = http_request(mon, "POST", "/api/login", json{{"key", f.viewer}}.dump(),
                            {{"Content-Type", "application/json"}, {"X-Forwarded-Proto", "https"}});
    ASSERT_EQ(tls.status, 200u) << tls.body;
    EXPECT_NE(tls.headers["set-cookie"].find("; Secure"), std::string::npos) << tls.headers["set-cookie"];

    const header_list cookie{{"Cookie", "theme=dark; llmp_session=" + sc.id}};
    auto s = get(mon, "/api/session", cookie);
    ASSERT_EQ(s.status, 200u) << s.body;
    EXPECT_EQ(json_of(s.body)["name"], "ops-admin");
    auto d = get(mon, "/api/requests/req-1", cookie);
    EXPECT_EQ(d.status, 200u);
    EXPECT_NE(d.body.find(secret_answer), std::string::npos);

    // Logout ends it and deletes the cookie.
    auto out = http_request(mon, "POST", "/api/logout", {}, cookie);
    EXPECT_EQ(out.status, 200u) << out.body;
    EXPECT_NE(out.headers["set-cookie"].find("Max-Age=0"), std::string::npos) << out.headers["set-cookie"];
    EXPECT_EQ(get(mon, "/api/session", cookie).status, 401u);

    // A new session and the bearer key: both stop within 2 s of the key's revocation.
    auto again = http_request(mon, "POST", "/api/login", json{{"key", f.admin}}.dump(), json_ct);
    ASSERT_EQ(again.status, 200u);
    const header_list cookie2{{"Cookie", "llmp_session=" + parse_set_cookie(again.headers["set-cookie"]).id}};
    ASSERT_EQ(get(mon, "/api/overview", cookie2).status, 200u);
    auto [revoked, rlog] = run_cli("keys-revoke", {"keys", "revoke", "ops-admin", "--database-url", f.db.url()});
    ASSERT_EQ(revoked, 0) << rlog;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until(
        [&] {
            return get(mon, "/api/overview", bearer(f.admin)).status == 401u &&
                   get(mon, "/api/overview", cookie2).status == 401u;
        },
        5s));
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 2s) << "revocation took longer than 2 s";
    EXPECT_EQ(get(mon, "/api/overview", bearer(f.viewer)).status, 200u) << "other keys still work";
}

TEST(monitor_auth_e2e, a_foreign_host_and_a_cross_origin_post_are_refused) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url};
    const unsigned mon = f.port;
    const std::string self = "127.0.0.1:" + std::to_string(mon);

    // DNS rebinding: evil.example resolved to 127.0.0.1; the browser names it in Host.
    for (const std::string target : {"/", "/index.html", "/api/overview", "/api/session"}) {
        auto r =
            get(mon, target, {{"Host", "evil.example:" + std::to_string(mon)}, {"Authorization", "Bearer " + f.admin}});
        EXPECT_EQ(r.status, 403u) << target << ": " << r.body;
        EXPECT_NE(r.body.find("--allowed-hosts"), std::string::npos) << r.body;
    }
    EXPECT_EQ(get(mon, "/api/overview",
                  {{"Host", "localhost:" + std::to_string(mon)}, {"Authorization", "Bearer " + f.admin}})
                  .status,
              200u);
    EXPECT_EQ(get(mon, "/healthz", {{"Host", "evil.example"}}).status, 200u) << "probes are open";

    // Cross-site POSTs: login and key creation from another origin, even with a valid key.
    header_list foreign{{"Content-Type", "application/json"}, {"Origin", "http://evil.example"}};
    auto login = http_request(mon, "POST", "/api/login", json{{"key", f.admin}}.dump(), foreign);
    EXPECT_EQ(login.status, 403u) << login.body;
    EXPECT_EQ(login.headers.count("set-cookie"), 0u);
    foreign.emplace_back("Authorization", "Bearer " + f.admin);
    auto create = http_request(mon, "POST", "/api/keys", json{{"name", "from-evil"}}.dump(), foreign);
    EXPECT_EQ(create.status, 403u) << create.body;
    EXPECT_EQ(f.db.count("SELECT count(*) FROM api_keys WHERE name = 'from-evil'"), 0);
    // The same from the monitor's own page passes.
    // (A browser's Host carries the port as its Origin does.)
    auto own = http_request(mon, "POST", "/api/login", json{{"key", f.admin}}.dump(),
                            {{"Content-Type", "application/json"}, {"Host", self}, {"Origin", "http://" + self}});
    EXPECT_EQ(own.status, 200u) << own.body;
}

TEST(monitor_auth_e2e, allowed_hosts_names_the_hosts_it_answers_to) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url, {"--allowed-hosts", "mon.example.com"}};
    EXPECT_EQ(
        get(f.port, "/api/overview", {{"Host", "mon.example.com"}, {"Authorization", "Bearer " + f.admin}}).status,
        200u);
    EXPECT_EQ(get(f.port, "/api/overview", bearer(f.admin)).status, 403u) << "127.0.0.1 is no longer listed";
}

TEST(monitor_auth_e2e, admins_create_list_and_revoke_keys_over_rest) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url};
    const unsigned mon = f.port;
    header_list admin_json{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + f.admin}};

    auto created = http_request(
        mon, "POST", "/api/keys",
        json{{"name", "team-a"}, {"owner", "a"}, {"models", {"mock*"}}, {"role", "viewer"}, {"expires_in_days", 30}}
            .dump(),
        admin_json);
    ASSERT_EQ(created.status, 201u) << created.body;
    auto cj = json_of(created.body);
    const std::string key = cj.value("key", "");
    EXPECT_TRUE(std::regex_match(key, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) << created.body;
    EXPECT_EQ(cj["role"], "viewer");
    EXPECT_EQ(cj["prefix"], key.substr(0, 12));
    EXPECT_FALSE(cj["expires_at"].is_null());
    EXPECT_EQ(f.db.count("SELECT count(*) FROM api_keys WHERE name = 'team-a' AND role = 'viewer'"), 1);
    EXPECT_EQ(f.db.count("SELECT count(*) FROM api_keys WHERE key_hash = '" + key + "'"), 0) << "never the plaintext";

    auto dup = http_request(mon, "POST", "/api/keys", json{{"name", "team-a"}}.dump(), admin_json);
    EXPECT_EQ(dup.status, 400u) << dup.body;
    auto bad = http_request(mon, "POST", "/api/keys", json{{"name", "x"}, {"role", "root"}}.dump(), admin_json);
    EXPECT_EQ(bad.status, 400u) << bad.body;

    auto listed = get(mon, "/api/keys", bearer(f.admin));
    ASSERT_EQ(listed.status, 200u) << listed.body;
    auto lj = json_of(listed.body);
    ASSERT_EQ(lj["keys"].size(), 4u) << listed.body;
    EXPECT_EQ(listed.body.find(key), std::string::npos) << "the plaintext is shown once";
    EXPECT_EQ(listed.body.find("key_hash"), std::string::npos);
    // The new key works in the monitor within the reload.
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/overview", bearer(key)).status == 200u; }, 5s));

    EXPECT_EQ(http_request(mon, "DELETE", "/api/keys/team-a", {}, bearer(f.viewer)).status, 403u);
    auto revoke = http_request(mon, "DELETE", "/api/keys/team-a", {}, bearer(f.admin));
    EXPECT_EQ(revoke.status, 200u) << revoke.body;
    EXPECT_EQ(http_request(mon, "DELETE", "/api/keys/team-a", {}, bearer(f.admin)).status, 404u);
    EXPECT_EQ(http_request(mon, "DELETE", "/api/keys/nobody", {}, bearer(f.admin)).status, 404u);
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/overview", bearer(key)).status == 401u; }, 5s));
    auto after = json_of(get(mon, "/api/keys", bearer(f.admin)).body);
    bool revoked_listed = false;
    for (const auto& k : after["keys"]) {
        revoked_listed |= k["name"] == "team-a" && !k["revoked_at"].is_null();
    }
    EXPECT_TRUE(revoked_listed) << after.dump();

    auto [listed_cli, llog] = run_cli("keys-list", {"keys", "list", "--database-url", f.db.url()});
    ASSERT_EQ(listed_cli, 0) << llog;
    EXPECT_TRUE(std::regex_search(llog, std::regex{"ops-viewer +llmp_\\S+ +viewer"})) << llog;
}

/// A 400 with a JSON error of `code` whose message names `word`.
void expect_refused(const http_reply& r, const std::string& code, const std::string& word, const std::string& what) {
    EXPECT_EQ(r.status, 400u) << what << ": " << r.body;
    auto j = json_of(r.body);
    EXPECT_EQ(j["error"]["code"], code) << what << ": " << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(word), std::string::npos) << what << ": " << r.body;
}

TEST(monitor_auth_e2e, admins_create_keys_with_limits_and_change_them_with_patch) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    monitor_fixture f{db_url, amqp_url};
    const unsigned mon = f.port;
    const header_list admin_json{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + f.admin}};
    auto post = [&](const json& body) { return http_request(mon, "POST", "/api/keys", body.dump(), admin_json); };
    auto patch = [&](const std::string& name, const std::string& body, header_list h) {
        return http_request(mon, "PATCH", "/api/keys/" + name, body, std::move(h));
    };

    // POST takes the limits.
    auto created = post({{"name", "team-l"}, {"rpm", 1000}, {"daily_tokens", 5000}, {"priority_ceiling", 3}});
    ASSERT_EQ(created.status, 201u) << created.body;
    auto cj = json_of(created.body);
    const std::string key = cj.value("key", "");
    EXPECT_EQ(cj["rpm"], 1000);
    EXPECT_EQ(cj["daily_tokens"], 5000);
    EXPECT_EQ(cj["priority_ceiling"], 3);
    EXPECT_TRUE(cj["tpm"].is_null() && cj["max_streams"].is_null() && cj["monthly_tokens"].is_null()) << created.body;
    EXPECT_EQ(f.db.count("SELECT rpm_limit FROM api_keys WHERE name = 'team-l'"), 1000);
    expect_refused(post({{"name", "bad"}, {"rpm", 0}}), "invalid_field", "rpm", "rpm 0");
    expect_refused(post({{"name", "bad"}, {"tpm", "10"}}), "invalid_field", "tpm", "a string");
    expect_refused(post({{"name", "bad"}, {"max_streams", 2.5}}), "invalid_field", "max_streams", "a fraction");
    expect_refused(post({{"name", "bad"}, {"priority_ceiling", 10}}), "invalid_field", "priority_ceiling", "10");
    expect_refused(post({{"name", "bad"}, {"rpmm", 5}}), "invalid_field", "rpmm", "a typo");
    expect_refused(post({{"name", "a/b"}}), "invalid_field", "/", "a slash");
    EXPECT_EQ(f.db.count("SELECT count(*) FROM api_keys WHERE name IN ('bad', 'a/b')"), 0);

    // PATCH: who may, and what it refuses.
    const std::string lower = json{{"rpm", 1}}.dump();
    EXPECT_EQ(patch("team-l", lower, {{"Authorization", "Bearer " + f.viewer}}).status, 403u);
    EXPECT_EQ(patch("team-l", lower, {{"Authorization", "Bearer " + f.user}}).status, 403u);
    EXPECT_EQ(patch("team-l", lower, {}).status, 401u);
    auto foreign = admin_json;
    foreign.emplace_back("Origin", "http://evil.example");
    EXPECT_EQ(patch("team-l", lower, foreign).status, 403u) << "a cross-site PATCH";
    expect_refused(patch("team-l", "not json", admin_json), "invalid_json", "JSON object", "not JSON");
    expect_refused(patch("team-l", "{}", admin_json), "missing_field", "nothing to change", "empty");
    expect_refused(patch("team-l", R"({"rpm": -1})", admin_json), "invalid_field", "rpm", "negative");
    expect_refused(patch("team-l", R"({"daily_tokens": 99999999999999999999})", admin_json), "invalid_field",
                   "daily_tokens", "beyond int64");
    expect_refused(patch("team-l", R"({"role": "root"})", admin_json), "invalid_field", "role", "a role");
    expect_refused(patch("team-l", R"({"expires_in_days": 0})", admin_json), "invalid_field", "expires_in_days",
                   "expiry");
    expect_refused(patch("team-l", R"({"models": ["mock*", ""]})", admin_json), "invalid_field", "models", "models");
    expect_refused(patch("team-l", R"({"name": "other"})", admin_json), "invalid_field", "renamed", "rename");
    auto unknown = patch("nobody", lower, admin_json);
    EXPECT_EQ(unknown.status, 404u) << unknown.body;
    EXPECT_EQ(json_of(unknown.body)["error"]["code"], "not_found") << unknown.body;
    EXPECT_EQ(f.db.count("SELECT rpm_limit FROM api_keys WHERE name = 'team-l'"), 1000) << "nothing changed";

    // Every field `llmproxy keys update` changes.
    auto changed = patch("team-l",
                         json{{"owner", "team L"},
                              {"models", {"mock*"}},
                              {"role", "viewer"},
                              {"expires_in_days", 7},
                              {"daily_tokens", nullptr},
                              {"tpm", 50000},
                              {"max_streams", 4},
                              {"monthly_tokens", 100000},
                              {"priority_ceiling", 0}}
                             .dump(),
                         admin_json);
    ASSERT_EQ(changed.status, 200u) << changed.body;
    auto ch = json_of(changed.body);
    EXPECT_EQ(ch["owner"], "team L");
    EXPECT_EQ(ch["allowed_models"], json::array({"mock*"}));
    EXPECT_EQ(ch["role"], "viewer");
    EXPECT_FALSE(ch["expires_at"].is_null());
    EXPECT_EQ(ch["rpm"], 1000) << "untouched";
    EXPECT_TRUE(ch["daily_tokens"].is_null()) << "null lifts it";
    EXPECT_EQ(ch["tpm"], 50000);
    EXPECT_EQ(ch["max_streams"], 4);
    EXPECT_EQ(ch["monthly_tokens"], 100000);
    EXPECT_EQ(ch["priority_ceiling"], 0);
    EXPECT_EQ(changed.body.find(key), std::string::npos);
    auto [shown, slog] = run_cli("keys-show", {"keys", "show", "team-l", "--database-url", f.db.url()});
    ASSERT_EQ(shown, 0) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"tokens/minute: +50000"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"role: +viewer"})) << slog;
    auto back = patch("team-l", R"({"role": "user", "expires_in_days": null, "models": null})", admin_json);
    ASSERT_EQ(back.status, 200u) << back.body;
    EXPECT_TRUE(json_of(back.body)["expires_at"].is_null()) << "null: never expires";
    EXPECT_TRUE(json_of(back.body)["allowed_models"].empty()) << "null: every model";

    // The change holds on an API server within 2 s: lower the key's RPM to 1, then it is 429.
    std::vector<std::string> api_args{"--auth", "keys", "--database-url", f.db.url()};
    if (const char* redis = std::getenv("LLMPROXY_TEST_REDIS_URL")) {
        api_args.insert(api_args.end(), {"--redis-url", redis});
    }
    auto api = f.c.start_api(api_args);
    f.c.start_worker({"--provider", "mock"});
    const header_list with_key{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
    const std::string chat =
        json{{"model", "mock"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 1}}.dump();
    http_reply r;
    ASSERT_TRUE(wait_until(
        [&] {
            r = http_request(api, "POST", "/v1/chat/completions", chat, with_key);
            return r.status == 200u;
        },
        30s))
        << r.status << " " << r.body << "\n"
        << f.c.logs();
    EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "1000");
    auto lowered = patch("team-l", lower, admin_json);
    ASSERT_EQ(lowered.status, 200u) << lowered.body;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until(
        [&] {
            r = http_request(api, "POST", "/v1/chat/completions", chat, with_key);
            return r.status == 429u;
        },
        5s))
        << r.status << " " << r.body;
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 2s) << "the new limit took longer than 2 s";
    EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "1") << r.body;
    EXPECT_EQ(json_of(r.body)["error"]["code"], "rate_limit_exceeded") << r.body;
    // null lifts it again.
    ASSERT_EQ(patch("team-l", R"({"rpm": null})", admin_json).status, 200u);
    ASSERT_TRUE(wait_until(
        [&] { return http_request(api, "POST", "/v1/chat/completions", chat, with_key).status == 200u; }, 5s));
}

TEST(monitor_auth_e2e, auth_none_lets_everyone_in_as_admin_but_keeps_the_host_check) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    cluster c{amqp_url};
    auto mon = c.start_monitor(db.url(), {"--auth", "none"});
    auto s = get(mon, "/api/session");
    ASSERT_EQ(s.status, 200u) << s.body;
    EXPECT_EQ(json_of(s.body)["auth"], "none");
    EXPECT_EQ(json_of(s.body)["role"], "admin");
    EXPECT_EQ(get(mon, "/api/overview", {{"Host", "evil.example"}}).status, 403u);
}

}  // namespace
}  // namespace llmp::testing
