#include "http/accept_backoff.hpp"

#include <cerrno>

namespace llmp::http_server {

bool out_of_resources(const beast::error_code& ec) {
    if (ec.category() != boost::system::system_category()) {
        return false;
    }
    switch (ec.value()) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return true;
        default:
            return false;
    }
}

}  // namespace llmp::http_server
