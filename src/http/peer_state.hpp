#pragma once
// peer_state: what a socket that a read-wait reported as readable actually holds. The relay
// watches a streaming connection for the client's hang-up with a read-wait; such a wait can
// complete without the socket being readable (Asio's reactor may hand a wait a readiness event
// meant for an earlier connection whose descriptor state it reused), so "readable" must be
// checked before a live client is treated as gone. Thread-safety: a pure function of the socket.

namespace llmp::http_server {

enum class peer_state {
    hung_up,  ///< the peer closed its side or the connection failed: end of stream
    sent,     ///< bytes are waiting to be read (not an SSE client's habit, but not a hang-up)
    nothing,  ///< not readable after all: a spurious wake-up; wait again
};

/// Looks at `fd` without consuming anything (a non-blocking MSG_PEEK of one byte).
peer_state peek_peer(int fd);

}  // namespace llmp::http_server
