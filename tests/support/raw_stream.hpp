#pragma once
// raw_stream: one blocking HTTP request whose reply a test reads bit by bit, to act like a real
// client at the moments that matter: read until the first token, then hang up; hold a stream
// open while others queue; read the rest later.

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace llmp::testing {

class raw_stream {
public:
    /// Connects to 127.0.0.1:port and sends a POST with a JSON body (and extra header lines,
    /// each "Name: value\r\n").
    raw_stream(unsigned port, const std::string& target, const std::string& body,
               const std::string& extra_headers = {});
    ~raw_stream();

    /// Reads until the received bytes contain `needle`; false on timeout or EOF first.
    bool read_until(const std::string& needle, std::chrono::milliseconds timeout);
    /// Reads until the server ends the reply (last chunk) or closes; false on timeout.
    bool read_to_end(std::chrono::milliseconds timeout);
    /// Hangs up (what a client that goes away does).
    void close();

    const std::string& received() const { return data_; }

private:
    bool read_some(std::chrono::milliseconds timeout);
    boost::asio::io_context ioc_;
    boost::beast::tcp_stream stream_;
    std::string data_;
    bool eof_ = false;
};

}  // namespace llmp::testing
