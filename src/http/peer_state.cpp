#include "http/peer_state.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace llmp::http_server {

peer_state peek_peer(int fd) {
    char byte = 0;
    for (;;) {
        const auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) {
            return peer_state::sent;
        }
        if (n == 0) {
            return peer_state::hung_up;  // orderly close: no more bytes will come
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return peer_state::nothing;
        }
        return peer_state::hung_up;  // reset, or any other failure: the stream cannot continue
    }
}

}  // namespace llmp::http_server
