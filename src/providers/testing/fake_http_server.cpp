#include "providers/testing/fake_http_server.hpp"

#include "providers/testing/fake_http_handler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace llmp::providers::testing {
namespace {

using tcp = net::ip::tcp;
using boost::system::error_code;

bool peer_gone(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
           ec == net::error::broken_pipe || ec == http::error::partial_message;
}

void report(const std::string& name, const char* what, const std::exception_ptr& e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        std::fprintf(stderr, "%s: %s failed: %s\n", name.c_str(), what, x.what());
    }
}

}  // namespace

struct fake_http_server::impl {
    impl(std::string n, const std::string& host, std::uint16_t port) : name{std::move(n)}, acceptor{ioc} {
        tcp::endpoint ep{net::ip::make_address(host), port};
        acceptor.open(ep.protocol());
        acceptor.set_option(net::socket_base::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(net::socket_base::max_listen_connections);
        bound_port = acceptor.local_endpoint().port();
    }

    std::string name;
    net::io_context ioc;
    tcp::acceptor acceptor;
    std::uint16_t bound_port = 0;
    fake_http_handler* handler = nullptr;
    std::vector<std::thread> threads;
    std::atomic<bool> stopped{false};
    std::atomic<std::uint64_t> generations_started{0};
    std::atomic<std::uint64_t> generations_aborted{0};

    mutable std::mutex mu;
    mutable std::condition_variable cv;
    std::uint64_t requests = 0;              // GUARDED_BY(mu)
    std::uint64_t posts = 0;                 // GUARDED_BY(mu): generations, embeddings (not model lists)
    std::uint64_t accepted = 0;              // GUARDED_BY(mu)
    std::uint64_t open = 0;                  // GUARDED_BY(mu)
    std::uint64_t closed_by_client = 0;      // GUARDED_BY(mu)
    std::uint64_t images_received = 0;       // GUARDED_BY(mu)
    std::uint64_t image_bytes_received = 0;  // GUARDED_BY(mu)
    std::uint64_t texts_embedded = 0;        // GUARDED_BY(mu)
    std::uint64_t posts_busy = 0;            // GUARDED_BY(mu): POSTs being answered now
    std::uint64_t posts_busy_max = 0;        // GUARDED_BY(mu): the most at once

    template <class Change>
    void count(Change change) {
        std::lock_guard lock{mu};
        change();
        cv.notify_all();
    }

    std::uint64_t read(const std::uint64_t& counter) const {
        std::lock_guard lock{mu};
        return counter;
    }

    template <class Pred>
    bool wait(Pred pred, std::chrono::milliseconds timeout) const {
        std::unique_lock lock{mu};
        return cv.wait_for(lock, timeout, pred);
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            error_code ec;
            tcp::socket sock =
                co_await acceptor.async_accept(net::make_strand(ioc), net::redirect_error(net::use_awaitable, ec));
            if (ec) {
                if (!acceptor.is_open() || stopped) {
                    co_return;
                }
                continue;
            }
            count([this] {
                ++accepted;
                ++open;
            });
            sock.set_option(tcp::no_delay{true}, ec);
            auto ex = sock.get_executor();
            net::co_spawn(ex, session(std::move(sock)), [this](std::exception_ptr e) {
                count([this] { --open; });
                report(name, "session", e);
            });
        }
    }

    net::awaitable<void> session(tcp::socket sock) {
        beast::tcp_stream stream{std::move(sock)};
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64 * 1024 * 1024);
            error_code ec;
            co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
            if (ec) {
                if (peer_gone(ec)) {
                    count([this] { ++closed_by_client; });
                }
                co_return;
            }
            const bool post = parser.get().method() == http::verb::post;
            count([this, post] {
                ++requests;
                if (post) {
                    ++posts;
                    posts_busy_max = std::max(posts_busy_max, ++posts_busy);
                }
            });
            auto req = parser.release();
            const bool keep_alive = req.keep_alive();
            after how = co_await handler->handle(stream, req);
            if (post) {
                count([this] { --posts_busy; });
            }
            if (how == after::client_gone) {
                ++generations_aborted;
                count([this] { ++closed_by_client; });
                co_return;
            }
            if (how != after::keep || !keep_alive) {
                stream.socket().shutdown(tcp::socket::shutdown_both, ec);
                stream.close();
                co_return;
            }
        }
    }
};

fake_http_server::fake_http_server(std::string name, const std::string& host, std::uint16_t port)
    : impl_{std::make_unique<impl>(std::move(name), host, port)} {}

fake_http_server::~fake_http_server() {
    stop();
}

void fake_http_server::start(fake_http_handler& h, int threads) {
    auto* s = impl_.get();
    s->handler = &h;
    net::co_spawn(s->ioc, s->accept_loop(), [s](std::exception_ptr e) { report(s->name, "accept loop", e); });
    for (int i = 0; i < std::max(1, threads); ++i) {
        s->threads.emplace_back([s] { s->ioc.run(); });
    }
}

void fake_http_server::stop() {
    auto* s = impl_.get();
    if (s->stopped.exchange(true)) {
        return;
    }
    net::post(s->ioc, [s] {
        error_code ec;
        s->acceptor.close(ec);
    });
    s->ioc.stop();
    for (auto& t : s->threads) {
        t.join();
    }
}

bool fake_http_server::stopping() const {
    return impl_->stopped.load();
}

std::uint16_t fake_http_server::port() const {
    return impl_->bound_port;
}

std::uint64_t fake_http_server::requests() const {
    return impl_->read(impl_->requests);
}

std::uint64_t fake_http_server::connections_accepted() const {
    return impl_->read(impl_->accepted);
}

std::uint64_t fake_http_server::connections_open() const {
    return impl_->read(impl_->open);
}

std::uint64_t fake_http_server::connections_closed_by_client() const {
    return impl_->read(impl_->closed_by_client);
}

void fake_http_server::generation_started() {
    ++impl_->generations_started;
}

std::uint64_t fake_http_server::generations_started() const {
    return impl_->generations_started.load();
}

std::uint64_t fake_http_server::generations_aborted() const {
    return impl_->generations_aborted.load();
}

nlohmann::json fake_http_server::stats() const {
    std::lock_guard lock{impl_->mu};
    return nlohmann::json{{"requests", impl_->requests},
                          {"posts", impl_->posts},
                          {"posts_at_once_max", impl_->posts_busy_max},
                          {"connections_accepted", impl_->accepted},
                          {"connections_open", impl_->open},
                          {"generations_started", impl_->generations_started.load()},
                          {"generations_aborted", impl_->generations_aborted.load()},
                          {"images_received", impl_->images_received},
                          {"image_bytes_received", impl_->image_bytes_received},
                          {"texts_embedded", impl_->texts_embedded}};
}

void fake_http_server::image_received(std::uint64_t bytes) {
    std::lock_guard lock{impl_->mu};
    ++impl_->images_received;
    impl_->image_bytes_received += bytes;
}

void fake_http_server::texts_embedded(std::uint64_t n) {
    std::lock_guard lock{impl_->mu};
    impl_->texts_embedded += n;
}

bool fake_http_server::wait_for_requests(std::uint64_t n, std::chrono::milliseconds timeout) const {
    return impl_->wait([&] { return impl_->requests >= n; }, timeout);
}

bool fake_http_server::wait_for_client_close(std::uint64_t n, std::chrono::milliseconds timeout) const {
    return impl_->wait([&] { return impl_->closed_by_client >= n; }, timeout);
}

bool fake_http_server::wait_for_connections_open_at_most(std::uint64_t n, std::chrono::milliseconds timeout) const {
    return impl_->wait([&] { return impl_->open <= n; }, timeout);
}

net::awaitable<after> wait_for_disconnect(const fake_http_server& server, beast::tcp_stream& stream) {
    stream.expires_never();
    char c[256];
    for (;;) {
        error_code ec;
        co_await stream.async_read_some(net::buffer(c), net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            co_return server.stopping() ? after::stopping : after::client_gone;
        }
    }
}

std::optional<std::vector<std::string>> models_of(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& m : j["models"]) {
        if (!m.is_string()) {
            return std::nullopt;
        }
        out.push_back(m.get<std::string>());
    }
    return out;
}

}  // namespace llmp::providers::testing
