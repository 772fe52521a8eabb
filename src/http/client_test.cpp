#include "http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace llmp::http_client {
namespace {

using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using request_t = http::request<http::string_body>;

constexpr auto test_timeout = 10s;

/// A blocking HTTP server on loopback, one thread per connection, whose replies are scripted
/// byte by byte by the test. The handler returns false to close the connection.
class script_server {
public:
    using handler = std::function<bool(tcp::socket&, const request_t&)>;

    explicit script_server(handler h)
        : acceptor_{ioc_, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}}, handler_{std::move(h)} {
        accept_thread_ = std::thread([this] { accept_loop(); });
    }

    ~script_server() {
        stopping_ = true;
        ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
        accept_thread_.join();
        {
            std::lock_guard lock{mu_};
            for (int fd : fds_) {
                ::shutdown(fd, SHUT_RDWR);
            }
        }
        for (auto& t : conn_threads_) {
            t.join();
        }
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
    int accepted() const { return accepted_.load(); }

private:
    void accept_loop() {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket s{ioc_};
            acceptor_.accept(s, ec);
            if (ec || stopping_) {
                return;
            }
            ++accepted_;
            std::lock_guard lock{mu_};
            fds_.push_back(s.native_handle());
            conn_threads_.emplace_back([this, s = std::move(s)]() mutable { serve(s); });
        }
    }

    void serve(tcp::socket& s) {
        beast::flat_buffer buf;
        for (;;) {
            request_t req;
            boost::system::error_code ec;
            http::read(s, buf, req, ec);
            if (ec || !handler_(s, req)) {
                break;
            }
        }
        boost::system::error_code ec;
        s.shutdown(tcp::socket::shutdown_both, ec);
    }

    net::io_context ioc_;
    tcp::acceptor acceptor_;
    handler handler_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> accepted_{0};
    std::thread accept_thread_;
    std::mutex mu_;
    std::vector<int> fds_;
    std::vector<std::thread> conn_threads_;
};

void write_raw(tcp::socket& s, std::string_view bytes) {
    boost::system::error_code ec;
    net::write(s, net::buffer(bytes), ec);
}

/// Blocks until the peer closes the connection.
void wait_for_close(tcp::socket& s) {
    char c[64];
    boost::system::error_code ec;
    while (!ec) {
        s.read_some(net::buffer(c), ec);
    }
}

std::string ok_response(std::string_view body, bool keep_alive = true) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + std::string{body};
}

class client_test : public ::testing::Test {
protected:
    client_test() : work_{net::make_work_guard(ioc_)}, thread_{[this] { ioc_.run(); }} {}

    ~client_test() override {
        work_.reset();
        ioc_.stop();
        thread_.join();
    }

    std::shared_ptr<client> make_client(const std::string& url, client_options opts = {}) {
        opts.peer_name = "Test";
        auto c = client::make(url, opts);
        EXPECT_TRUE(c) << c.error().message;
        return c.value();
    }

    /// Runs `a` on `ex` and waits for its result. (co_spawn in Boost 1.74 needs a
    /// default-constructible result, hence the optional.)
    template <class T, class Executor>
    static std::future<std::optional<T>> start_on(const Executor& ex, net::awaitable<T> a) {
        auto wrap = [](net::awaitable<T> inner) -> net::awaitable<std::optional<T>> {
            co_return co_await std::move(inner);
        };
        return net::co_spawn(ex, wrap(std::move(a)), net::use_future);
    }

    template <class T, class Executor>
    static T run_on(const Executor& ex, net::awaitable<T> a) {
        auto f = start_on(ex, std::move(a));
        if (f.wait_for(test_timeout) != std::future_status::ready) {
            ADD_FAILURE() << "timed out";
            std::abort();
        }
        return std::move(*f.get());
    }

    template <class T>
    T run(net::awaitable<T> a) {
        return run_on(ioc_.get_executor(), std::move(a));
    }

    /// Sends a GET of `target` on `x` (run on its strand): the response's head, or the error.
    static net::awaitable<result<response_head>> get(exchange& x, std::string target) {
        outgoing_request req;
        req.target = std::move(target);
        co_return co_await x.send(req);
    }

    result<response> fetch(const std::shared_ptr<client>& c, std::string target) {
        outgoing_request req;
        req.target = std::move(target);
        return run(c->fetch(std::move(req)));
    }

    template <class T>
    struct read_outcome {
        result<T> read;
        std::size_t idle_after = 0;  ///< the client's idle connections once it has read, server still up
    };

    /// What a reader meets behind a full-speed upstream: the server writes `head`; once the
    /// client has read it, `body` in one write (on loopback, all in the client's receive queue
    /// when the write returns), then `tail`. `read_on` then reads from the exchange, on the
    /// fixture's only thread.
    template <class T>
    read_outcome<T> read_after_one_write(std::string head, std::string body, std::string tail,
                                         std::function<net::awaitable<result<T>>(exchange&)> read_on) {
        std::promise<void> head_seen;
        std::promise<void> body_written;
        auto head_seen_future = head_seen.get_future().share();
        script_server server{[&](tcp::socket& s, const request_t&) {
            write_raw(s, head);
            EXPECT_EQ(head_seen_future.wait_for(test_timeout), std::future_status::ready);
            write_raw(s, body);
            body_written.set_value();
            if (!tail.empty()) {
                write_raw(s, tail);
            }
            return true;
        }};
        auto written = body_written.get_future();
        auto c = make_client(server.url());
        auto strand = net::make_strand(ioc_);
        auto read = [&]() -> net::awaitable<result<T>> {
            auto x = c->make_exchange(strand);
            auto head = co_await get(*x, "/api/chat");
            if (!head) {
                co_return head.error();
            }
            head_seen.set_value();
            EXPECT_EQ(written.wait_for(test_timeout), std::future_status::ready);  // blocks the only thread
            co_return co_await read_on(*x);
        };
        result<T> r = run_on(strand, read());
        return {std::move(r), c->idle_connections()};
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread thread_;
};

TEST(base_url, parses_host_port_and_prefix) {
    auto u = base_url::parse("http://127.0.0.1:11434/");
    ASSERT_TRUE(u);
    EXPECT_EQ(u.value().host, "127.0.0.1");
    EXPECT_EQ(u.value().port, "11434");
    EXPECT_EQ(u.value().prefix, "");
    EXPECT_EQ(u.value().text, "http://127.0.0.1:11434");

    auto v = base_url::parse("HTTP://ollama.local/proxy/");
    ASSERT_TRUE(v);
    EXPECT_EQ(v.value().host, "ollama.local");
    EXPECT_EQ(v.value().port, "80");
    EXPECT_EQ(v.value().prefix, "/proxy");

    auto w = base_url::parse("http://[::1]:8080");
    ASSERT_TRUE(w);
    EXPECT_EQ(w.value().host, "::1");
    EXPECT_EQ(w.value().port, "8080");
}

TEST(base_url, rejects_what_it_cannot_serve) {
    for (const char* bad :
         {"https://x:1", "ftp://x", "127.0.0.1:11434", "http://:80", "http://x:0", "http://x:99999", "http://x:12ab"}) {
        auto u = base_url::parse(bad);
        ASSERT_FALSE(u) << bad;
        EXPECT_EQ(u.error().code, client_errc::bad_url);
    }
}

TEST_F(client_test, fetch_reads_whole_response) {
    script_server server{[](tcp::socket& s, const request_t& req) {
        EXPECT_EQ(req.target(), "/api/tags");
        EXPECT_EQ(req[http::field::host], "127.0.0.1:" + std::to_string(s.local_endpoint().port()));
        write_raw(s, ok_response(R"({"models":[]})"));
        return true;
    }};
    auto c = make_client(server.url());
    auto r = fetch(c, "/api/tags");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().status, 200u);
    EXPECT_EQ(r.value().content_type, "application/json");
    EXPECT_EQ(r.value().body, R"({"models":[]})");
}

TEST_F(client_test, keep_alive_connection_is_reused) {
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, ok_response("{}"));
        return true;
    }};
    auto c = make_client(server.url());
    for (int i = 0; i < 3; ++i) {
        auto r = fetch(c, "/x");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(c->idle_connections(), 1u);
    }
    EXPECT_EQ(server.accepted(), 1);
    EXPECT_EQ(c->connections_opened(), 1u);
}

TEST_F(client_test, connection_close_is_not_pooled) {
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, ok_response("{}", /*keep_alive=*/false));
        return false;
    }};
    auto c = make_client(server.url());
    ASSERT_TRUE(fetch(c, "/x"));
    EXPECT_EQ(c->idle_connections(), 0u);
    ASSERT_TRUE(fetch(c, "/x"));
    EXPECT_EQ(server.accepted(), 2);
}

TEST_F(client_test, pooled_connection_closed_by_server_is_replaced) {
    // The server answers with keep-alive but then drops the connection, as an idle timeout would.
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, ok_response("{}"));
        return false;
    }};
    auto c = make_client(server.url());
    ASSERT_TRUE(fetch(c, "/x"));
    auto r = fetch(c, "/x");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(server.accepted(), 2);
}

TEST_F(client_test, streaming_body_arrives_piece_by_piece) {
    std::promise<void> first_seen;
    auto first_seen_future = first_seen.get_future().share();
    script_server server{[&](tcp::socket& s, const request_t&) {
        write_raw(s,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n");
        write_raw(s, "6\r\nline1\n\r\n");
        // The second piece is only sent once the client has seen the first: the client must
        // deliver bytes as they arrive, not when the response is complete.
        EXPECT_EQ(first_seen_future.wait_for(test_timeout), std::future_status::ready);
        write_raw(s, "6\r\nline2\n\r\n0\r\n\r\n");
        return true;
    }};
    auto c = make_client(server.url());
    auto strand = net::make_strand(ioc_);
    auto body = [&]() -> net::awaitable<result<std::string>> {
        auto x = c->make_exchange(strand);
        outgoing_request req;
        req.method = http::verb::post;
        req.target = "/api/chat";
        req.body = "{}";
        auto head = co_await x->send(req);
        if (!head) {
            co_return head.error();
        }
        EXPECT_EQ(head.value().content_type, "application/x-ndjson");
        std::string all;
        bool signalled = false;
        for (;;) {
            auto piece = co_await x->read_some();
            if (!piece) {
                co_return piece.error();
            }
            if (piece.value().empty()) {
                break;
            }
            all += piece.value();
            if (!signalled && all.find("line1\n") != std::string::npos) {
                EXPECT_EQ(all, "line1\n");
                signalled = true;
                first_seen.set_value();
            }
        }
        co_return all;
    };
    auto r = run_on(strand, body());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), "line1\nline2\n");
    EXPECT_EQ(c->idle_connections(), 1u);
}

TEST_F(client_test, a_body_that_has_arrived_is_read_in_one_piece_not_512_bytes_at_a_time) {
    // A streamed answer at full speed: many tokens are waiting when the client reads. Each
    // read_some must take what has arrived (up to its 16 KiB piece), not a recv() of 512 bytes
    // per few tokens.
    const std::string body(8192, 'x');
    auto r =
        read_after_one_write<std::string>("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: " +
                                              std::to_string(body.size()) + "\r\n\r\n",
                                          body, "",
                                          [](exchange& x) -> net::awaitable<result<std::string>> {
                                              auto piece = co_await x.read_some();
                                              if (!piece) {
                                                  co_return piece.error();
                                              }
                                              co_return std::string{piece.value()};
                                          })
            .read;
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().size(), body.size());
}

TEST_F(client_test, chunks_that_have_arrived_are_read_in_one_piece_not_one_chunk_at_a_time) {
    // Ollama and OpenAI-compatible servers send each line of a streamed answer as its own HTTP
    // chunk. When many are waiting (a full-speed upstream, a busy worker), one read_some takes
    // them all: a read per chunk would cost a round of the io_context per token.
    std::string lines;
    std::string chunked;
    for (int i = 0; i < 100; ++i) {
        const std::string line = "tok" + std::to_string(1000 + i) + "\n";  // 8 bytes
        lines += line;
        chunked += "8\r\n" + line + "\r\n";
    }
    // The body in one write, before the client reads; the end comes later.
    auto [r, idle_after] = read_after_one_write<std::vector<std::string>>(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", chunked,
        "0\r\n\r\n", [](exchange& x) -> net::awaitable<result<std::vector<std::string>>> {
            std::vector<std::string> out;
            for (;;) {
                auto piece = co_await x.read_some();
                if (!piece) {
                    co_return piece.error();
                }
                if (piece.value().empty()) {
                    co_return out;
                }
                out.emplace_back(piece.value());
            }
        });
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_FALSE(r.value().empty());
    EXPECT_EQ(r.value().front(), lines) << "the first read took " << r.value().front().size() << " of " << lines.size()
                                        << " bytes";
    std::string all;
    for (const auto& p : r.value()) {
        all += p;
    }
    EXPECT_EQ(all, lines);
    EXPECT_EQ(idle_after, 1u) << "read to its end, the connection goes back to the pool";
}

TEST_F(client_test, connection_refused_is_a_clear_error) {
    unsigned short port = 0;
    {
        // A port that was free a moment ago and that nothing listens on now.
        net::io_context tmp;
        tcp::acceptor a{tmp, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
        port = a.local_endpoint().port();
    }
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    auto c = make_client(url);
    auto r = fetch(c, "/api/tags");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::connect_failed);
    EXPECT_EQ(r.error().message, "cannot connect to Test at " + url + ": Connection refused");
    EXPECT_TRUE(r.error().retryable);
}

TEST_F(client_test, idle_timeout_between_bytes) {
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        wait_for_close(s);
        return false;
    }};
    client_options opts;
    opts.idle_timeout = 200ms;
    auto c = make_client(server.url(), opts);
    auto r = fetch(c, "/slow");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::idle_timeout);
}

TEST_F(client_test, a_steady_body_longer_than_the_idle_timeout_is_read_whole) {
    // The idle timeout is the silence between two pieces, not the length of the body: 12 pieces
    // 50 ms apart take 600 ms, longer than the 500 ms allowed between two of them.
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 12; ++i) {
            std::this_thread::sleep_for(50ms);
            write_raw(s, "1\r\nx\r\n");
        }
        write_raw(s, "0\r\n\r\n");
        return true;
    }};
    client_options opts;
    opts.idle_timeout = 500ms;
    auto c = make_client(server.url(), opts);
    auto r = fetch(c, "/steady");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().body, std::string(12, 'x'));
}

TEST_F(client_test, a_read_timeout_shorter_than_the_idle_timeout_applies_to_that_read) {
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        wait_for_close(s);
        return false;
    }};
    auto c = make_client(server.url());  // idle_timeout: 300 s
    auto strand = net::make_strand(ioc_);
    auto task = [&]() -> net::awaitable<result<std::string>> {
        auto x = c->make_exchange(strand);
        auto head = co_await get(*x, "/slow");
        if (!head) {
            co_return head.error();
        }
        auto first = co_await x->read_some();  // the default timeout: "abc" is there
        if (!first) {
            co_return first.error();
        }
        EXPECT_EQ(first.value(), "abc");
        auto second = co_await x->read_some(100ms);  // nothing more comes
        if (!second) {
            co_return second.error();
        }
        co_return std::string{second.value()};
    };
    auto r = run_on(strand, task());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::idle_timeout);
}

TEST_F(client_test, server_closing_mid_body_is_connection_closed) {
    script_server server{[](tcp::socket& s, const request_t&) {
        write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        return false;
    }};
    auto c = make_client(server.url());
    auto r = fetch(c, "/x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::connection_closed);
}

TEST_F(client_test, body_limit) {
    script_server server{[](tcp::socket& s, const request_t&) {
        // Larger than one read's piece (16 KiB): the rest is unread when the limit is passed.
        write_raw(s, ok_response(std::string(100'000, 'x')));
        return true;
    }};
    auto c = make_client(server.url());
    outgoing_request req;
    req.target = "/big";
    auto r = run(c->fetch(std::move(req), 100));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::body_too_large);
    EXPECT_EQ(c->idle_connections(), 0u);
}

TEST_F(client_test, cancel_aborts_a_pending_read) {
    std::atomic<bool> server_saw_close{false};
    script_server server{[&](tcp::socket& s, const request_t&) {
        write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        wait_for_close(s);
        server_saw_close = true;
        return false;
    }};
    auto c = make_client(server.url());
    auto strand = net::make_strand(ioc_);
    std::unique_ptr<exchange> x = c->make_exchange(strand);
    std::promise<void> headers_seen;
    auto task = [&]() -> net::awaitable<result<std::string_view>> {
        auto head = co_await get(*x, "/stream");
        if (!head) {
            co_return head.error();
        }
        headers_seen.set_value();
        co_return co_await x->read_some();
    };
    auto f = start_on(strand, task());
    ASSERT_EQ(headers_seen.get_future().wait_for(test_timeout), std::future_status::ready);
    net::post(strand, [&] { x->cancel(); });
    ASSERT_EQ(f.wait_for(test_timeout), std::future_status::ready);
    auto r = std::move(*f.get());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, client_errc::cancelled);
    // A cancelled exchange fails at once from then on.
    auto again = run_on(strand, x->read_some());
    EXPECT_FALSE(again);
}

}  // namespace
}  // namespace llmp::http_client
