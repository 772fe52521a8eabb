#pragma once
// accept_backoff: what a listener's accept loop does after each accept. A failure for lack of
// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) leaves the connection in the backlog,
// so an immediate retry fails alike and the loop spins at 100% CPU: those pause. Other failures
// concern one connection (reset before accept) and retry at once. A run of pauses is one
// period, logged once when it starts and once when it ends. Used by the accept loop only.

#include "common/asio_fwd.hpp"

#include <boost/beast/core/error.hpp>

#include <chrono>
#include <cstdint>
#include <utility>

namespace llmp::http_server {

/// True for the accept errors that mean the process ran out of descriptors or memory.
bool out_of_resources(const beast::error_code& ec);

class accept_backoff {
public:
    explicit accept_backoff(std::chrono::milliseconds pause) : pause_{pause} {}

    /// After a failed accept: how long to wait before accepting again (zero = at once).
    std::chrono::milliseconds on_error(const beast::error_code& ec) {
        if (!out_of_resources(ec)) {
            return std::chrono::milliseconds{0};
        }
        ++pauses_;
        period_started_ = !pausing_;
        pausing_ = true;
        return pause_;
    }
    /// True right after the on_error() that began a period of pauses (log it).
    bool period_started() const { return period_started_; }
    /// After a successful accept: true when it ends a period of pauses (log it).
    bool on_accept() {
        period_started_ = false;
        return std::exchange(pausing_, false);
    }
    /// Pauses so far, all periods.
    std::uint64_t pauses() const { return pauses_; }

private:
    std::chrono::milliseconds pause_;
    std::uint64_t pauses_ = 0;
    bool pausing_ = false;
    bool period_started_ = false;
};

}  // namespace llmp::http_server
