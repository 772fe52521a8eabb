#include "api/http_client_connection.hpp"

#include "api/exact_allocator.hpp"
#include "http/peer_state.hpp"

#include <cstddef>
#include <memory>

namespace llmp::api {
namespace {

std::optional<std::string> header(const http_server::request& req, std::string_view name) {
    auto h = req.find(name);
    return h == req.end() ? std::nullopt : std::optional<std::string>{std::string{h->value()}};
}

}  // namespace

client_request client_request_of(const http_server::request_context& rc) {
    client_request r;
    r.route = std::string{rc.req.target()};
    r.remote_addr = rc.remote_addr;
    r.user_agent = header(rc.req, "User-Agent").value_or("");
    r.timeout_header = header(rc.req, "X-Request-Timeout-Ms");
    r.priority_header = header(rc.req, "X-Priority");
    r.authorization = header(rc.req, "Authorization");
    r.x_api_key = header(rc.req, "x-api-key");
    r.key = std::static_pointer_cast<const keys::usable_key>(rc.principal);
    return r;
}

net::awaitable<void> http_client_connection::send(http_server::response res) {
    co_await http_server::send(rc_, std::move(res));
}

net::awaitable<beast::error_code> http_client_connection::start_stream(std::string_view content_type,
                                                                       const header_list& headers) {
    co_return co_await stream_.start(http::status::ok, content_type, headers);
}

net::awaitable<beast::error_code> http_client_connection::write(std::string_view data) {
    co_return co_await stream_.write(data);
}

net::awaitable<void> http_client_connection::finish() {
    co_await stream_.finish();
}

namespace {

void await_hang_up(beast::tcp_stream& stream, std::shared_ptr<bool> watching, std::function<void()> gone);

/// The completion of one read-wait (await_hang_up); allocated at its own size (exact_allocator.hpp).
struct hang_up_check {
    using allocator_type = exact_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }

    beast::tcp_stream& stream;
    std::shared_ptr<bool> watching;
    std::function<void()> gone;

    void operator()(boost::system::error_code ec) {
        if (!*watching || ec == net::error::operation_aborted) {
            return;
        }
        const auto state =
            ec ? http_server::peer_state::hung_up : http_server::peek_peer(stream.socket().native_handle());
        switch (state) {
            case http_server::peer_state::hung_up:
                gone();
                return;
            case http_server::peer_state::nothing:
                await_hang_up(stream, std::move(watching), std::move(gone));
                return;
            case http_server::peer_state::sent:
                return;  // an SSE client never sends; a later write failure still ends the stream
        }
    }
};

/// One read-wait on the socket; re-armed after a wake-up that finds nothing to read (see
/// http/peer_state.hpp: such wake-ups happen, and must not end a live client's stream).
void await_hang_up(beast::tcp_stream& stream, std::shared_ptr<bool> watching, std::function<void()> gone) {
    stream.socket().async_wait(net::socket_base::wait_read,
                               hang_up_check{stream, std::move(watching), std::move(gone)});
}

}  // namespace

// The relay only writes while it streams, so a readable socket means the client closed its
// side (or sent something, which an SSE client never does).
void http_client_connection::watch(std::function<void()> gone) {
    watching_ = std::make_shared<bool>(true);
    await_hang_up(rc_.stream, watching_, std::move(gone));
}

void http_client_connection::stop_watching() {
    if (watching_ && *watching_) {
        *watching_ = false;
        boost::system::error_code ignored;
        rc_.stream.socket().cancel(ignored);
    }
}

void http_client_connection::cancel_write() {
    if (watching_ && *watching_) {
        rc_.stream.cancel();
    }
}

void http_client_connection::close() {
    stop_watching();
    rc_.keep_alive = false;
    rc_.stream.close();
}

}  // namespace llmp::api
