#include "support/sync_http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>

namespace llmp::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

http_reply http_request(unsigned port, const std::string& method, const std::string& target, const std::string& body,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
    http_reply out;
    net::io_context ioc;
    beast::tcp_stream stream{ioc};
    beast::error_code ec;
    stream.expires_after(std::chrono::seconds{60});
    stream.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    if (ec) {
        out.error = ec.message();
        return out;
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) {
        req.set(k, v);
    }
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) {
        out.error = ec.message();
        return out;
    }
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 30);
    http::read(stream, buf, parser, ec);
    if (ec) {
        out.error = ec.message();
        return out;
    }
    auto res = parser.release();
    out.status = res.result_int();
    for (const auto& f : res) {
        std::string name{f.name_string()};
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        out.headers[name] = std::string{f.value()};
    }
    out.body = std::move(res.body());
    return out;
}

}  // namespace llmp::testing
