#include "http/client.hpp"

#include "common/ascii.hpp"
#include "common/mutex.hpp"
#include "common/secret_mask.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <deque>
#include <limits>
#include <optional>

namespace llmp::http_client {

using tcp = net::ip::tcp;
using boost::system::error_code;
using steady_clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t body_chunk_size = 16 * 1024;

/// A pooled connection is kept as a bare descriptor: it is re-registered with the executor
/// (strand) of the exchange that takes it, so no socket outlives or crosses its strand.
struct pooled_fd {
    int fd;
    tcp protocol;
    steady_clock::time_point since;
};

/// False if the peer closed an idle connection (or sent bytes nobody asked for).
bool still_open(int fd) {
    char c = 0;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0) {
        return false;  // 0: orderly close; >0: unsolicited data, the framing cannot be trusted
    }
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

}  // namespace

namespace detail {

struct client_state {
    base_url url;
    client_options opts;
    std::string host_header;
    std::atomic<std::uint64_t> opened{0};

    mutable llmp::mutex mu;
    std::deque<pooled_fd> idle GUARDED_BY(mu);  // back = most recently used

    client_state(base_url u, client_options o) : url{std::move(u)}, opts{std::move(o)} {
        bool v6 = url.host.find(':') != std::string::npos;
        host_header = v6 ? "[" + url.host + "]" : url.host;
        if (url.port != "80") {
            host_header += ":" + url.port;
        }
    }

    ~client_state() {
        for (auto& p : idle) {
            ::close(p.fd);
        }
    }

    std::string where() const { return opts.peer_name + " at " + url.text; }

    /// A live pooled connection, re-homed on `ex`, or nullopt.
    std::optional<tcp::socket> take(const net::any_io_executor& ex) {
        for (;;) {
            std::optional<pooled_fd> p;
            {
                llmp::lock_guard lock{mu};
                if (idle.empty()) {
                    return std::nullopt;
                }
                p = idle.back();
                idle.pop_back();
            }
            if (steady_clock::now() - p->since > opts.max_idle_age || !still_open(p->fd)) {
                ::close(p->fd);
                continue;
            }
            tcp::socket s{ex};
            error_code ec;
            s.assign(p->protocol, p->fd, ec);
            if (ec) {
                ::close(p->fd);
                continue;
            }
            return s;
        }
    }

    void put(tcp::socket s) {
        if (opts.max_idle_connections <= 0) {
            return;
        }
        error_code ec;
        auto protocol = s.local_endpoint(ec).protocol();
        if (ec) {
            return;
        }
        int fd = s.release(ec);
        if (ec) {
            return;
        }
        llmp::lock_guard lock{mu};
        while (idle.size() >= static_cast<std::size_t>(opts.max_idle_connections)) {
            ::close(idle.front().fd);
            idle.pop_front();
        }
        idle.push_back(pooled_fd{fd, protocol, steady_clock::now()});
    }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// base_url

result<base_url> base_url::parse(std::string_view url) {
    auto bad = [&](std::string why) {
        return fail(std::string{client_errc::bad_url}, "invalid URL '" + mask_secrets(url) + "': " + why +
                                                           " (expected http://host:port, e.g. http://127.0.0.1:11434)");
    };
    std::string_view rest = url;
    if (starts_with_nocase(rest, "https://")) {
        return bad("https is not supported; use http:// (put a TLS proxy in front if needed)");
    }
    if (!starts_with_nocase(rest, "http://")) {
        return bad("it must start with http://");
    }
    rest.remove_prefix(7);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    if (authority.find('@') != std::string_view::npos) {
        return bad("user info in the URL is not supported");
    }
    base_url out;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return bad("unterminated IPv6 address");
        }
        out.host = std::string{authority.substr(1, close - 1)};
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return bad("garbage after the IPv6 address");
            }
            port = after.substr(1);
        }
    } else {
        auto colon = authority.rfind(':');
        out.host = std::string{authority.substr(0, colon)};
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
        }
    }
    if (out.host.empty()) {
        return bad("no host");
    }
    if (port.empty()) {
        out.port = "80";
    } else {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || ptr != port.data() + port.size() || value == 0 || value > 65535) {
            return bad("bad port '" + std::string{port} + "'");
        }
        out.port = std::string{port};
    }
    out.prefix = std::string{path};
    std::string_view text = url;
    while (!text.empty() && text.back() == '/') {
        text.remove_suffix(1);
    }
    out.text = std::string{text};
    return out;
}

// ---------------------------------------------------------------------------------------------
// client

result<std::shared_ptr<client>> client::make(std::string_view url, client_options opts) {
    auto parsed = base_url::parse(url);
    if (!parsed) {
        return parsed.error();
    }
    return std::make_shared<client>(std::make_shared<detail::client_state>(std::move(parsed).value(), std::move(opts)));
}

client::client(std::shared_ptr<detail::client_state> state) : state_{std::move(state)} {}

client::~client() = default;

const base_url& client::url() const {
    return state_->url;
}

const client_options& client::options() const {
    return state_->opts;
}

std::unique_ptr<exchange> client::make_exchange(net::any_io_executor strand) const {
    return std::make_unique<exchange>(state_, std::move(strand));
}

std::size_t client::idle_connections() const {
    llmp::lock_guard lock{state_->mu};
    return state_->idle.size();
}

std::uint64_t client::connections_opened() const {
    return state_->opened.load();
}

namespace {

// Wrapped in optional: co_spawn in Boost 1.74 needs a default-constructible result type.
net::awaitable<std::optional<result<response>>> do_fetch(std::shared_ptr<detail::client_state> state,
                                                         outgoing_request req, std::size_t max_body) {
    exchange x{std::move(state), co_await net::this_coro::executor};
    auto head = co_await x.send(req);
    if (!head) {
        co_return head.error();
    }
    auto body = co_await x.read_all(max_body);
    if (!body) {
        co_return body.error();
    }
    co_return response{head.value().status, std::move(head.value().content_type), std::move(body).value()};
}

}  // namespace

net::awaitable<result<response>> client::fetch(outgoing_request req, std::size_t max_body) const {
    auto ex = co_await net::this_coro::executor;
    auto r =
        co_await net::co_spawn(net::make_strand(ex), do_fetch(state_, std::move(req), max_body), net::use_awaitable);
    co_return std::move(*r);
}

// ---------------------------------------------------------------------------------------------
// exchange

namespace {

/// The idle timeout of the body's reads, without a timer per read. Beast's expires_after on
/// every read_some armed a timer and cancelled it again per piece of the body (one per token
/// of a streamed answer: a timer-queue update and a cancelled handler each). Instead each read
/// notes its deadline here, and one timer, re-armed only when it fires (about once per idle
/// timeout), closes the read in progress if that deadline has passed. Strand only; shared with
/// the timer's handler, which outlives the exchange when it is destroyed mid-wait.
struct read_watchdog {
    explicit read_watchdog(net::any_io_executor ex) : timer{std::move(ex)} {}

    net::steady_timer timer;
    steady_clock::time_point deadline{};                 ///< of the read in progress
    steady_clock::time_point armed_at{};                 ///< the timer's expiry; {} = no wait pending
    bool reading = false;                                ///< a read is in progress
    bool fired = false;                                  ///< it cancelled the read in progress: idle timeout
    std::optional<beast::tcp_stream>* stream = nullptr;  ///< the exchange's; null once it is gone
    std::uint64_t generation = 0;                        ///< a wait of an older generation was superseded

    static void arm(const std::shared_ptr<read_watchdog>& wd, steady_clock::time_point at) {
        wd->armed_at = at;
        const auto gen = ++wd->generation;
        wd->timer.expires_at(at);  // a pending wait completes as superseded
        wd->timer.async_wait([wd, gen](error_code) {
            if (gen != wd->generation) {
                return;
            }
            wd->armed_at = {};
            if (wd->stream == nullptr || !wd->reading) {
                return;  // gone, or between two reads: the next read arms it again
            }
            if (steady_clock::now() < wd->deadline) {
                arm(wd, wd->deadline);  // data came meanwhile: wait for the current deadline
                return;
            }
            wd->fired = true;
            if (*wd->stream) {
                error_code ignored;
                (*wd->stream)->socket().cancel(ignored);  // the read completes with operation_aborted
            }
        });
    }
    void stop() {
        stream = nullptr;
        ++generation;
        armed_at = {};
        timer.cancel();
    }
};

}  // namespace

struct exchange::impl {
    impl(std::shared_ptr<detail::client_state> s, net::any_io_executor e)
        : state{std::move(s)}, ex{std::move(e)}, watchdog{std::make_shared<read_watchdog>(ex)} {
        watchdog->stream = &stream;
    }
    ~impl() { watchdog->stop(); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    std::shared_ptr<detail::client_state> state;
    net::any_io_executor ex;
    std::optional<tcp::resolver> resolver;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::buffer_body>> parser;
    std::array<char, body_chunk_size> body;
    bool reused = false;
    std::shared_ptr<read_watchdog> watchdog;  ///< the body reads' idle timeout

    llmp::error cancelled_error() const {
        return {std::string{client_errc::cancelled}, "request to " + state->where() + " was cancelled", false};
    }

    llmp::error io_error(const error_code& ec, std::string_view during) const {
        if (ec == beast::error::timeout) {
            return {std::string{client_errc::idle_timeout},
                    "no data from " + state->where() + " for " + std::to_string(state->opts.idle_timeout.count()) +
                        " ms " + std::string{during},
                    true};
        }
        if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
            ec == net::error::connection_reset || ec == net::error::broken_pipe) {
            return {std::string{client_errc::connection_closed},
                    state->where() + " closed the connection " + std::string{during}, true};
        }
        if (ec == http::error::body_limit) {
            return {std::string{client_errc::body_too_large}, "the response from " + state->where() + " is too large",
                    false};
        }
        if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
            return {std::string{client_errc::protocol_error},
                    state->where() + " sent an invalid HTTP response: " + ec.message(), false};
        }
        return {std::string{client_errc::io_error},
                "I/O error with " + state->where() + " " + std::string{during} + ": " + ec.message(), true};
    }

    /// After a complete response: back to the pool if the server allows, else closed.
    void finish(bool cancelled) {
        bool keep = stream && parser && parser->keep_alive() && buffer.size() == 0 && !cancelled;
        if (keep) {
            state->put(stream->release_socket());
        }
        stream.reset();
    }
};

exchange::exchange(std::shared_ptr<detail::client_state> state, net::any_io_executor strand)
    : impl_{std::make_unique<impl>(std::move(state), std::move(strand))} {}

exchange::~exchange() = default;

namespace {

/// What a server that closed an idle keep-alive connection looks like on our next request.
bool stale_connection(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
           ec == net::error::broken_pipe;
}

}  // namespace

net::awaitable<result<response_head>> exchange::send(const outgoing_request& req) {
    auto& s = *impl_;
    const auto& opts = s.state->opts;
    body_done_ = false;
    if (cancelled_) {
        co_return s.cancelled_error();
    }

    http::request<http::string_body> msg{req.method, s.state->url.prefix + req.target, 11};
    msg.set(http::field::host, s.state->host_header);
    msg.set(http::field::user_agent, opts.user_agent);
    msg.set(http::field::accept, "*/*");
    for (const auto& [name, value] : req.headers) {
        msg.set(name, value);
    }
    if (!req.body.empty() || req.method == http::verb::post || req.method == http::verb::put) {
        msg.set(http::field::content_type, req.content_type);
        msg.body() = req.body;
    }
    msg.keep_alive(true);
    msg.prepare_payload();

    for (int attempt = 0;; ++attempt) {
        s.stream.reset();
        s.parser.reset();
        s.buffer.clear();
        // Beast reads as much as the buffer's free capacity, at least 512 bytes: left to grow
        // by itself it stays near the header's size, so a streamed body came 512 bytes a
        // recv(), a few tokens each, and a reactor pass per read (bench/RESULTS.md, "the
        // upstream's body read 512 bytes at a time"). Once per exchange; clear() keeps it.
        s.buffer.reserve(body_chunk_size);
        s.reused = false;
        if (auto sock = s.state->take(s.ex)) {
            s.stream.emplace(std::move(*sock));
            s.reused = true;
        } else {
            error_code ec;
            tcp::resolver::results_type endpoints;
            auto addr = net::ip::make_address(s.state->url.host, ec);
            if (!ec) {
                auto port = static_cast<unsigned short>(std::stoi(s.state->url.port));
                endpoints = tcp::resolver::results_type::create(tcp::endpoint{addr, port}, s.state->url.host,
                                                                s.state->url.port);
            } else {
                ec = {};
                s.resolver.emplace(s.ex);
                endpoints = co_await s.resolver->async_resolve(s.state->url.host, s.state->url.port,
                                                               net::redirect_error(net::use_awaitable, ec));
                s.resolver.reset();
                if (cancelled_) {
                    co_return s.cancelled_error();
                }
                if (ec) {
                    co_return fail(std::string{client_errc::connect_failed},
                                   "cannot connect to " + s.state->where() + ": cannot resolve '" + s.state->url.host +
                                       "': " + ec.message(),
                                   true);
                }
            }
            s.stream.emplace(s.ex);
            s.stream->expires_after(opts.connect_timeout);
            co_await s.stream->async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
            if (cancelled_) {
                co_return s.cancelled_error();
            }
            if (ec == beast::error::timeout) {
                s.stream.reset();
                co_return fail(std::string{client_errc::connect_timeout},
                               "cannot connect to " + s.state->where() + ": no answer within " +
                                   std::to_string(opts.connect_timeout.count()) + " ms",
                               true);
            }
            if (ec) {
                s.stream.reset();
                co_return fail(std::string{client_errc::connect_failed},
                               "cannot connect to " + s.state->where() + ": " + ec.message(), true);
            }
            s.state->opened.fetch_add(1);
            s.stream->socket().set_option(tcp::no_delay{true}, ec);
        }

        error_code ec;
        s.stream->expires_after(opts.idle_timeout);
        co_await http::async_write(*s.stream, msg, net::redirect_error(net::use_awaitable, ec));
        if (!ec && !cancelled_) {
            s.parser.emplace();
            // Not boost::none: Beast 1.74 compares Content-Length against an empty optional
            // and reports body_limit. Bodies are bounded by the callers (read_all) instead.
            s.parser->body_limit(std::numeric_limits<std::uint64_t>::max());
            s.stream->expires_after(opts.idle_timeout);
            co_await http::async_read_header(*s.stream, s.buffer, *s.parser,
                                             net::redirect_error(net::use_awaitable, ec));
        }
        if (cancelled_) {
            co_return s.cancelled_error();
        }
        if (ec) {
            bool retry = s.reused && attempt == 0 && stale_connection(ec);
            s.stream.reset();
            if (retry) {
                continue;  // the server had dropped the pooled connection; once more, fresh
            }
            co_return s.io_error(ec, "before sending the response headers");
        }
        const auto& h = s.parser->get();
        response_head head{h.result_int(), std::string{h.reason()}, std::string{h[http::field::content_type]},
                           std::string{h[http::field::retry_after]}};
        if (s.parser->is_done()) {
            body_done_ = true;
            s.finish(cancelled_);
        }
        co_return head;
    }
}

net::awaitable<result<std::string_view>> exchange::read_some(std::optional<std::chrono::milliseconds> timeout) {
    auto& s = *impl_;
    if (body_done_) {
        co_return std::string_view{};
    }
    if (cancelled_) {
        co_return s.cancelled_error();
    }
    if (!s.stream || !s.parser) {
        co_return fail(std::string{client_errc::io_error}, "no response in progress from " + s.state->where());
    }
    for (;;) {
        auto& body = s.parser->get().body();
        body.data = s.body.data();
        body.size = s.body.size();
        error_code ec;
        // No Beast timer per read: the watchdog enforces the idle timeout (read_watchdog).
        s.stream->expires_never();
        auto& wd = *s.watchdog;
        wd.deadline = steady_clock::now() + timeout.value_or(s.state->opts.idle_timeout);
        wd.reading = true;
        wd.fired = false;
        if (wd.armed_at == steady_clock::time_point{} || wd.armed_at > wd.deadline) {
            read_watchdog::arm(s.watchdog, wd.deadline);
        }
        co_await http::async_read_some(*s.stream, s.buffer, *s.parser, net::redirect_error(net::use_awaitable, ec));
        wd.reading = false;
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        if (ec && wd.fired) {
            ec = beast::error::timeout;  // silent past the deadline (io_error names it)
        }
        if (cancelled_) {
            co_return s.cancelled_error();
        }
        if (ec) {
            s.stream.reset();
            co_return s.io_error(ec, "in the middle of the response");
        }
        std::size_t n = s.body.size() - s.parser->get().body().size;
        // Beast's read_some returns one chunk, and Ollama and OpenAI-compatible servers send
        // each line of a stream as its own chunk: the chunks already received are parsed here,
        // without a socket read, into the rest of this piece. One read per chunk cost a round
        // of the io_context (a resumption and an epoll_wait) per token whenever several were
        // waiting. (Beast's eager mode does not do it: it reads the socket for the next chunk
        // before completing, so a stream would stall on a chunk whose successor is not sent.)
        // A chunk not whole yet (need_more), a full piece (need_buffer) or a malformed one
        // stops it: the next read_some takes it up, and reports the malformed one.
        while (n > 0 && !s.parser->is_done() && s.buffer.size() > 0 && s.parser->get().body().size > 0) {
            error_code more;
            const auto used = s.parser->put(s.buffer.data(), more);
            s.buffer.consume(used);
            n = s.body.size() - s.parser->get().body().size;
            if (more || used == 0) {
                break;
            }
        }
        if (s.parser->is_done()) {
            body_done_ = true;
            s.finish(cancelled_);
        }
        if (n > 0) {
            co_return std::string_view{s.body.data(), n};
        }
        if (body_done_) {
            co_return std::string_view{};
        }
    }
}

net::awaitable<result<std::string>> exchange::read_all(std::size_t limit) {
    std::string out;
    for (;;) {
        auto piece = co_await read_some();
        if (!piece) {
            co_return piece.error();
        }
        if (piece.value().empty()) {
            co_return out;
        }
        if (out.size() + piece.value().size() > limit) {
            impl_->stream.reset();  // the rest of the body is unread: the connection is unusable
            co_return fail(
                std::string{client_errc::body_too_large},
                "the response from " + impl_->state->where() + " is larger than " + std::to_string(limit) + " bytes");
        }
        out.append(piece.value());
    }
}

void exchange::cancel() {
    cancelled_ = true;
    if (impl_->resolver) {
        impl_->resolver->cancel();
    }
    if (impl_->stream) {
        impl_->stream->close();
    }
}

}  // namespace llmp::http_client
