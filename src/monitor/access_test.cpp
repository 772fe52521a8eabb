// Unit tests of the monitor's access checks: Host and Origin (host_guard), login sessions and
// their cookie (session_store), who a request is (monitor_auth over a key ring), and what a
// viewer sees of the history (viewer_redaction).

#include "common/errc.hpp"
#include "keys/api_key.hpp"
#include "keys/key_ring.hpp"
#include "monitor/host_guard.hpp"
#include "monitor/monitor_auth.hpp"
#include "monitor/session_store.hpp"
#include "monitor/viewer_redaction.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(host_guard, splits_host_and_port_of_names_ipv4_and_bracketed_ipv6) {
    auto a = split_host_port("LocalHost:8081");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "localhost");
    EXPECT_EQ(a->port, "8081");
    auto b = split_host_port("[::1]:80");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "[::1]");
    EXPECT_EQ(b->port, "80");
    auto c = split_host_port("127.0.0.1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->port, "");
    for (auto bad : {"", ":80", "a:b", "::1", "[::1", "[::1]x", "a b", "user@host"}) {
        EXPECT_FALSE(split_host_port(bad)) << bad;
    }
}

TEST(host_guard, answers_the_default_names_and_refuses_a_rebound_one) {
    host_guard g{host_guard::defaults("127.0.0.1")};
    for (auto ok : {"localhost:8081", "127.0.0.1:8081", "[::1]:8081", "LOCALHOST", "127.0.0.1"}) {
        EXPECT_FALSE(g.check_host(std::string_view{ok})) << ok;
    }
    for (auto bad : {"evil.example:8081", "evil.example", "localhost.evil.example", "127.0.0.2"}) {
        auto e = g.check_host(std::string_view{bad});
        ASSERT_TRUE(e) << bad;
        EXPECT_EQ(e->code, "forbidden");
        EXPECT_NE(e->message.find("--allowed-hosts"), std::string::npos);
    }
    EXPECT_TRUE(g.check_host(std::nullopt)) << "no Host header";
}

TEST(host_guard, defaults_add_a_specific_listen_address_but_not_a_wildcard) {
    auto d = host_guard::defaults("10.1.2.3");
    EXPECT_NE(std::find(d.begin(), d.end(), "10.1.2.3"), d.end());
    EXPECT_EQ(host_guard::defaults("0.0.0.0").size(), 3u);
    EXPECT_EQ(host_guard::defaults("::").size(), 3u);
    auto v6 = host_guard::defaults("fd00::5");
    EXPECT_NE(std::find(v6.begin(), v6.end(), "[fd00::5]"), v6.end());
}

TEST(host_guard, configured_names_and_the_star) {
    host_guard g{{"Monitor.Example.com", "::1"}};
    EXPECT_FALSE(g.check_host(std::string_view{"monitor.example.com"}));
    EXPECT_FALSE(g.check_host(std::string_view{"[::1]:9"}));
    EXPECT_TRUE(g.check_host(std::string_view{"localhost"}));
    host_guard any{{"*"}};
    EXPECT_TRUE(any.any_host());
    EXPECT_FALSE(any.check_host(std::string_view{"whatever.example"}));
}

TEST(host_guard, a_state_changing_request_from_another_origin_is_refused) {
    auto check = [](std::optional<std::string_view> origin, std::string_view host) {
        return host_guard::check_origin(origin, host);
    };
    EXPECT_FALSE(check(std::nullopt, "127.0.0.1:8081")) << "no Origin: not a browser's cross-site request";
    EXPECT_FALSE(check("http://127.0.0.1:8081", "127.0.0.1:8081"));
    EXPECT_FALSE(check("HTTP://LOCALHOST:8081", "localhost:8081"));
    EXPECT_FALSE(check("https://mon.example.com", "mon.example.com")) << "default port on both sides";
    EXPECT_FALSE(check("https://mon.example.com", "mon.example.com:443"));
    EXPECT_FALSE(check("http://[::1]:8081", "[::1]:8081"));
    for (auto bad : {"http://evil.example", "http://127.0.0.1:9999", "http://localhost:8081", "null", "file://"}) {
        auto e = check(std::string_view{bad}, "127.0.0.1:8081");
        ASSERT_TRUE(e) << bad;
        EXPECT_EQ(e->code, "forbidden");
    }
    EXPECT_TRUE(host_guard::check_origin(std::string_view{"http://127.0.0.1:8081"}, std::nullopt));
    EXPECT_TRUE(state_changing("POST"));
    EXPECT_TRUE(state_changing("DELETE"));
    EXPECT_TRUE(state_changing("PATCH"));
    EXPECT_FALSE(state_changing("GET"));
    EXPECT_FALSE(state_changing("HEAD"));
}

TEST(session_store, a_session_lives_until_its_ttl_or_logout) {
    session_store s{60s};
    auto t0 = session_store::clock::now();
    auto id = s.open("hash-a", t0);
    EXPECT_GE(id.size(), 43u) << "32 random bytes";
    EXPECT_EQ(s.find(id, t0 + 59s), "hash-a");
    EXPECT_FALSE(s.find(id, t0 + 60s)) << "expired";
    EXPECT_FALSE(s.find("not-a-session", t0));
    EXPECT_FALSE(s.find("", t0));
    auto id2 = s.open("hash-b", t0);
    EXPECT_NE(id, id2);
    s.close(id2);
    EXPECT_FALSE(s.find(id2, t0));
    s.close("unknown");  // ignored
}

TEST(session_store, is_bounded_and_sweeps_expired_sessions) {
    session_store s{60s, 3};
    auto t0 = session_store::clock::now();
    auto first = s.open("a", t0);
    s.open("b", t0 + 1s);
    s.open("c", t0 + 2s);
    auto fourth = s.open("d", t0 + 3s);
    EXPECT_EQ(s.size(), 3u);
    EXPECT_FALSE(s.find(first, t0 + 3s)) << "the one expiring first made room";
    EXPECT_EQ(s.find(fourth, t0 + 3s), "d");
    s.open("e", t0 + 200s);
    EXPECT_EQ(s.size(), 1u) << "expired ones swept";
}

TEST(session_cookie, attributes_and_parsing) {
    auto set = session_set_cookie("abc", 3600s, false);
    EXPECT_EQ(set, "llmp_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600");
    EXPECT_NE(session_set_cookie("abc", 3600s, true).find("; Secure"), std::string::npos);
    EXPECT_EQ(session_clear_cookie(false), "llmp_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    EXPECT_EQ(cookie_value("a=1; llmp_session=xyz; b=2", "llmp_session"), "xyz");
    EXPECT_EQ(cookie_value("llmp_session=\"q\"", "llmp_session"), "q");
    EXPECT_EQ(cookie_value("xllmp_session=1", "llmp_session"), std::nullopt);
    EXPECT_EQ(cookie_value("", "llmp_session"), std::nullopt);
}

keys::stored_key stored(const keys::new_key& k, std::string name, keys::key_role role) {
    keys::stored_key s;
    s.hash = k.hash;
    s.key.id = "id-" + name;
    s.key.name = std::move(name);
    s.key.role = role;
    return s;
}

http_server::request request_with(std::vector<std::pair<std::string, std::string>> headers) {
    http_server::request req{http::verb::get, "/api/overview", 11};
    for (auto& [f, v] : headers) {
        req.set(f, v);
    }
    return req;
}

const std::string authorization = "Authorization", cookie = "Cookie", origin = "Origin",
                  forwarded_proto = "X-Forwarded-Proto";

struct auth_fixture : ::testing::Test {
    keys::key_ring ring;
    session_store sessions{1h};
    monitor_auth auth{&ring, sessions, cookie_secure_mode::automatic};
    keys::new_key admin = keys::generate_key(), viewer = keys::generate_key(), user = keys::generate_key();

    void load() {
        ring.replace({stored(admin, "adm", keys::key_role::admin), stored(viewer, "view", keys::key_role::viewer),
                      stored(user, "usr", keys::key_role::user)});
    }
};

TEST_F(auth_fixture, before_the_keys_are_loaded_every_credential_gets_503) {
    auto r = auth.identify(request_with({{authorization, "Bearer " + admin.plaintext}}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "db_unavailable");
}

TEST_F(auth_fixture, bearer_keys_by_role) {
    load();
    auto a = auth.identify(request_with({{authorization, "Bearer " + admin.plaintext}}));
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value().role, keys::key_role::admin);
    EXPECT_TRUE(may_read_texts(a.value()));
    auto v = auth.identify(request_with({{authorization, "Bearer " + viewer.plaintext}}));
    ASSERT_TRUE(v);
    EXPECT_EQ(v.value().key_name, "view");
    EXPECT_FALSE(may_read_texts(v.value()));
    auto u = auth.identify(request_with({{authorization, "Bearer " + user.plaintext}}));
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().code, "forbidden");
    for (auto h : {std::string{"Bearer llmp_nope"}, std::string{"Basic x"}}) {
        auto r = auth.identify(request_with({{authorization, h}}));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, "invalid_api_key");
    }
    auto none = auth.identify(request_with({}));
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, "invalid_api_key");
    EXPECT_EQ(info(errc::invalid_api_key).http_status, 401);
    EXPECT_EQ(info(errc::forbidden).http_status, 403);
}

TEST_F(auth_fixture, a_login_session_follows_its_key_and_ends_with_it) {
    load();
    auto s = auth.login(viewer.plaintext);
    ASSERT_TRUE(s);
    EXPECT_EQ(s.value().who.role, keys::key_role::viewer);
    auto with_cookie = request_with({{cookie, "x=1; llmp_session=" + s.value().id}});
    ASSERT_TRUE(auth.identify(with_cookie));
    EXPECT_EQ(s.value().id.find(viewer.plaintext), std::string::npos);
    // The key revoked (gone from the ring): the session stops too.
    ring.replace({stored(admin, "adm", keys::key_role::admin)});
    auto after = auth.identify(with_cookie);
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, "invalid_api_key");
    EXPECT_FALSE(auth.login(user.plaintext)) << "a user key opens no session";
    EXPECT_FALSE(auth.login("llmp_wrong"));
    // Logout ends it.
    load();
    auto a = auth.login(admin.plaintext);
    ASSERT_TRUE(a);
    auto req = request_with({{cookie, "llmp_session=" + a.value().id}});
    ASSERT_TRUE(auth.identify(req));
    auth.logout(req);
    EXPECT_FALSE(auth.identify(req));
}

TEST(monitor_auth, none_makes_everyone_an_admin) {
    session_store sessions{1h};
    monitor_auth auth{nullptr, sessions, cookie_secure_mode::automatic};
    auto who = auth.identify(request_with({}));
    ASSERT_TRUE(who);
    EXPECT_EQ(who.value().role, keys::key_role::admin);
    EXPECT_FALSE(auth.enabled());
}

TEST(monitor_auth, secure_cookie_modes) {
    session_store sessions{1h};
    monitor_auth automatic{nullptr, sessions, cookie_secure_mode::automatic};
    EXPECT_FALSE(automatic.secure_cookie(request_with({})));
    EXPECT_TRUE(automatic.secure_cookie(request_with({{forwarded_proto, "https"}})));
    EXPECT_TRUE(automatic.secure_cookie(request_with({{origin, "https://mon.example.com"}})));
    EXPECT_TRUE((monitor_auth{nullptr, sessions, cookie_secure_mode::always}.secure_cookie(request_with({}))));
    EXPECT_FALSE((monitor_auth{nullptr, sessions, cookie_secure_mode::never}.secure_cookie(
        request_with({{forwarded_proto, "https"}}))));
}

TEST(viewer_redaction, the_list_keeps_numbers_and_drops_the_preview) {
    json list{
        {"requests", {{{"request_id", "r1"}, {"preview", "secret prompt"}, {"ttft_ms", 12}, {"future_text", "x"}}}},
        {"next_cursor", "c"}};
    auto v = viewer_request_list(list);
    EXPECT_EQ(v["next_cursor"], "c");
    EXPECT_EQ(v["texts_hidden"], true);
    EXPECT_EQ(v["requests"][0]["request_id"], "r1");
    EXPECT_EQ(v["requests"][0]["ttft_ms"], 12);
    EXPECT_FALSE(v["requests"][0].contains("preview"));
    EXPECT_FALSE(v["requests"][0].contains("future_text")) << "unknown fields stay hidden";
    EXPECT_EQ(v.dump().find("secret"), std::string::npos);
}

TEST(viewer_redaction, the_detail_keeps_numbers_and_drops_every_text) {
    json d{
        {"request_id", "r1"},
        {"request",
         {{"model", "m"},
          {"messages", {{{"role", "user"}, {"content", "secret-1"}}}},
          {"prompt", "secret-2"},
          {"options", {{"system", "secret-3"}}},
          {"extra", {{"x", "secret-4"}}},
          {"priority", 3}}},
        {"response", {{"text", "secret-5"}, {"error_message", "secret-6"}, {"completion_tokens", 7}, {"status", "ok"}}},
        {"chunks", {{{"seq", 1}, {"chars", 4}}}}};
    auto v = viewer_request_detail(d);
    EXPECT_EQ(v.dump().find("secret"), std::string::npos) << v.dump();
    EXPECT_EQ(v["request"]["priority"], 3);
    EXPECT_EQ(v["response"]["completion_tokens"], 7);
    EXPECT_EQ(v["chunks"][0]["chars"], 4);
    EXPECT_EQ(v["texts_hidden"], true);
    json pending{{"request_id", "r2"}, {"request", nullptr}, {"response", nullptr}, {"chunks", json::array()}};
    auto p = viewer_request_detail(pending);
    EXPECT_TRUE(p["request"].is_null());
    EXPECT_TRUE(p["response"].is_null());
}

}  // namespace
}  // namespace llmp::monitor
