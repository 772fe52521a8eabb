#pragma once
// The Beast-style namespace aliases, in one place (style.md §3). Include this instead of
// spelling boost::asio / boost::beast in headers.

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace boost::beast {}
namespace boost::beast::http {}

namespace llmp {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace llmp
