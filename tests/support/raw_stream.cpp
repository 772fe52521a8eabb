#include "support/raw_stream.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <stdexcept>

namespace llmp::testing {

namespace net = boost::asio;

raw_stream::raw_stream(unsigned port, const std::string& target, const std::string& body,
                       const std::string& extra_headers)
    : stream_{ioc_} {
    stream_.expires_after(std::chrono::seconds{10});
    stream_.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                      extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    net::write(stream_.socket(), net::buffer(req));
}

raw_stream::~raw_stream() {
    close();
}

bool raw_stream::read_some(std::chrono::milliseconds timeout) {
    if (eof_) {
        return false;
    }
    char buf[4096];
    boost::system::error_code ec;
    stream_.expires_after(timeout);
    auto n = stream_.read_some(net::buffer(buf), ec);
    if (ec) {
        eof_ = true;
        return false;
    }
    data_.append(buf, n);
    return true;
}

bool raw_stream::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (data_.find(needle) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !read_some(left)) {
            return data_.find(needle) != std::string::npos;
        }
    }
    return true;
}

bool raw_stream::read_to_end(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (data_.find("\r\n0\r\n\r\n") == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        if (!read_some(left)) {
            return eof_;
        }
    }
    return true;
}

void raw_stream::close() {
    boost::system::error_code ec;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    eof_ = true;
}

}  // namespace llmp::testing
