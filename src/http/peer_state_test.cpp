#include "http/peer_state.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace llmp::http_server {
namespace {

struct socket_pair {
    int ours = -1;
    int theirs = -1;
    socket_pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        ours = fds[0];
        theirs = fds[1];
    }
    ~socket_pair() {
        ::close(ours);
        if (theirs >= 0) {
            ::close(theirs);
        }
    }
    void hang_up() {
        ::close(theirs);
        theirs = -1;
    }
};

// The case the relay's hang-up watch got wrong: woken with nothing to read on a connection whose
// client is still there. It must wait again, not cancel the client's stream.
TEST(PeekPeer, ALiveIdleConnectionIsNothingNotAHangUp) {
    socket_pair s;
    EXPECT_EQ(peek_peer(s.ours), peer_state::nothing);
}

TEST(PeekPeer, APeerThatClosedIsAHangUp) {
    socket_pair s;
    s.hang_up();
    EXPECT_EQ(peek_peer(s.ours), peer_state::hung_up);
}

TEST(PeekPeer, PendingBytesAreSentAndStayUnread) {
    socket_pair s;
    ASSERT_EQ(::write(s.theirs, "x", 1), 1);
    EXPECT_EQ(peek_peer(s.ours), peer_state::sent);
    char c = 0;
    ASSERT_EQ(::read(s.ours, &c, 1), 1) << "the peek consumed nothing";
    EXPECT_EQ(c, 'x');
}

TEST(PeekPeer, BytesThenCloseAreSentUntilRead) {
    socket_pair s;
    ASSERT_EQ(::write(s.theirs, "x", 1), 1);
    s.hang_up();
    EXPECT_EQ(peek_peer(s.ours), peer_state::sent);
}

}  // namespace
}  // namespace llmp::http_server
