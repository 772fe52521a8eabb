// Unit tests of the monitor's pure parts: query strings, windows, cursors, PostgreSQL text
// values, live worker states, static file resolution (path traversal), base64.

#include "monitor/config.hpp"
#include "monitor/cursor.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/live_workers.hpp"
#include "monitor/pg_values.hpp"
#include "monitor/query_string.hpp"
#include "monitor/queue_sampler.hpp"
#include "monitor/static_files.hpp"
#include "monitor/time_window.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace llmp::monitor {
namespace {

namespace fs = std::filesystem;

TEST(query_string, decodes_values_and_keeps_the_last_repeat) {
    query_string q{"/api/requests?model=mock%3Alatest&q=hello+world&q=x%20y&empty=&flag"};
    EXPECT_EQ(q.get("model"), "mock:latest");
    EXPECT_EQ(q.get("q"), "x y");
    EXPECT_EQ(q.get("empty"), "");
    EXPECT_EQ(q.get_or("empty", "d"), "d");
    EXPECT_EQ(q.get("flag"), "");
    EXPECT_FALSE(q.get("nope"));
    EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
    EXPECT_EQ(percent_encode("/"), "%2F");
    EXPECT_FALSE(query_string{"/api/x"}.get("a"));
}

TEST(time_window, parses_windows_and_buckets) {
    EXPECT_EQ(parse_window("5m").value().seconds, 300);
    EXPECT_EQ(parse_window("1h").value().seconds, 3600);
    EXPECT_EQ(parse_window("24h").value().seconds, 86400);
    EXPECT_FALSE(parse_window("5"));
    EXPECT_FALSE(parse_window("m"));
    EXPECT_FALSE(parse_window("-5m"));
    EXPECT_FALSE(parse_window("5x"));
    EXPECT_FALSE(parse_window("8d"));
    EXPECT_FALSE(parse_window("5s"));
    EXPECT_EQ(parse_window("1h5").error().code, "invalid_field");
    auto w = parse_window("24h").value();
    EXPECT_FALSE(parse_bucket("10s", w)) << "8640 buckets is too many";
    EXPECT_EQ(parse_bucket("1m", w).value().seconds, 60);
    EXPECT_EQ(default_bucket(parse_window("5m").value()).seconds, 10);
    EXPECT_EQ(default_bucket(w).seconds, 600);
    EXPECT_EQ(default_bucket(parse_window("7d").value()).seconds, 3600) << "whole hours: the hourly rollups";
}

TEST(cursor, round_trips_and_refuses_garbage) {
    cursor c{1764252000123456, "b5c1a6e4-0000-4000-8000-000000000001"};
    auto d = cursor::decode(c.encode());
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().received_us, c.received_us);
    EXPECT_EQ(d.value().request_id, c.request_id);
    EXPECT_FALSE(cursor::decode(""));
    EXPECT_FALSE(cursor::decode("abc_def"));
    EXPECT_FALSE(cursor::decode("123_"));
    EXPECT_FALSE(cursor::decode("123_a'b"));
}

TEST(pg_values, reads_arrays_and_nulls) {
    auto p = percentiles(std::string{"{1.5,2,3.25}"});
    EXPECT_DOUBLE_EQ(p["p50"].get<double>(), 1.5);
    EXPECT_DOUBLE_EQ(p["p99"].get<double>(), 3.25);
    auto none = percentiles(std::nullopt);
    EXPECT_DOUBLE_EQ(none["p95"].get<double>(), 0);
    EXPECT_EQ(as_text_array(std::string{"{a,\"b c\",\"d\\\"e\"}"}), (std::vector<std::string>{"a", "b c", "d\"e"}));
    EXPECT_TRUE(as_text_array(std::string{"{}"}).empty());
    EXPECT_TRUE(number_or_null(std::nullopt).is_null());
    EXPECT_EQ(as_int(std::string{"42"}), 42);
}

TEST(live_workers, reports_live_stale_and_left) {
    using namespace std::chrono_literals;
    live_workers w{6s, 1h};
    auto t0 = live_workers::clock::now();
    worker_heartbeat a;
    a.worker_id = "a";
    a.in_flight = 3;
    a.models = {"mock"};
    worker_heartbeat b = a;
    b.worker_id = "b";
    b.in_flight = 2;
    w.update(a, t0);
    w.update(b, t0 - 10s);
    auto snap = w.snapshot(t0 + 1s);
    ASSERT_EQ(snap.size(), 2u);
    EXPECT_EQ(snap[0].state, "live");
    EXPECT_EQ(snap[0].hb.models, std::vector<std::string>{"mock:latest"});
    EXPECT_EQ(snap[1].state, "stale");
    EXPECT_EQ(w.in_flight(t0 + 1s), 3);
    a.leaving = true;
    w.update(a, t0 + 2s);
    EXPECT_EQ(w.snapshot(t0 + 2s)[0].state, "left");
    EXPECT_EQ(w.in_flight(t0 + 2s), 0);
}

TEST(static_files, serves_inside_the_root_only) {
    auto base = fs::temp_directory_path() / ("llmp_static_" + std::to_string(::getpid()));
    fs::create_directories(base / "dist" / "assets");
    std::ofstream{base / "dist" / "index.html"} << "<html></html>";
    std::ofstream{base / "dist" / "assets" / "app.js"} << "1";
    std::ofstream{base / "secret.txt"} << "no";
    fs::create_symlink(base / "secret.txt", base / "dist" / "link.txt");
    static_files files{base / "dist"};
    EXPECT_EQ(files.resolve("/")->filename(), "index.html");
    EXPECT_EQ(files.resolve("/assets/app.js?v=1")->filename(), "app.js");
    EXPECT_FALSE(files.resolve("/../secret.txt"));
    EXPECT_FALSE(files.resolve("/%2e%2e/secret.txt"));
    EXPECT_FALSE(files.resolve("/assets/..%2f..%2fsecret.txt"));
    EXPECT_FALSE(files.resolve("/assets\\..\\..\\secret.txt"));
    EXPECT_FALSE(files.resolve("/link.txt")) << "a symlink out of the root";
    EXPECT_FALSE(files.resolve("/missing.js"));
    EXPECT_FALSE(files.resolve("relative"));
    EXPECT_EQ(content_type_for("a.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("a.css"), "text/css; charset=utf-8");
    EXPECT_EQ(content_type_for("a.html"), "text/html; charset=utf-8");
    fs::remove_all(base);
}

TEST(base64, encodes_rfc4648_vectors) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("guest:guest"), "Z3Vlc3Q6Z3Vlc3Q=");
}

TEST(db_errors, a_client_never_sees_postgresql_text) {
    const std::string pg_text = "PostgreSQL 42P01: ERROR:  relation \"secret_table\" does not exist";
    auto e = for_client(error{"db_error", pg_text, true});
    EXPECT_EQ(e.code, "db_error");
    EXPECT_EQ(e.message.find("secret_table"), std::string::npos) << e.message;
    auto down = for_client(error{"db_unavailable", "PostgreSQL: connection to server at \"10.0.0.7\" failed", true});
    EXPECT_EQ(down.code, "db_unavailable");
    EXPECT_EQ(down.message.find("10.0.0.7"), std::string::npos) << down.message;
    EXPECT_NE(down.message.find("PostgreSQL"), std::string::npos);
    auto data = for_client(error{"db_data_error", "PostgreSQL 22P02: invalid input syntax: 'x'", false});
    EXPECT_EQ(data.code, "db_error");
    EXPECT_EQ(data.message.find("22P02"), std::string::npos);
    auto slow = for_client(error{"db_timeout", "PostgreSQL: canceling statement due to statement timeout", false});
    EXPECT_EQ(slow.code, "query_timeout");
    EXPECT_EQ(slow.message.find("canceling"), std::string::npos);
    EXPECT_NE(slow.message.find("narrow the time window"), std::string::npos) << slow.message;
    auto own = for_client(error{"not_found", "no request r-1 in the audit database", false});
    EXPECT_EQ(own.message, "no request r-1 in the audit database") << "the monitor's own errors pass";
}

TEST(queue_sampler, a_management_url_with_a_password_is_never_echoed) {
    net::io_context ioc;
    queue_sampler_config cfg;
    cfg.mgmt_url = "http://guest:hunter2@127.0.0.1:15672";
    queue_sampler s{ioc, cfg};
    auto why = s.latest().value("error", std::string{});
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(why.find("hunter2"), std::string::npos) << why;
}

TEST(monitor_config, listens_on_loopback_unless_told_otherwise) {
    EXPECT_EQ(monitor_config{}.listen_address, "127.0.0.1");
}

}  // namespace
}  // namespace llmp::monitor
