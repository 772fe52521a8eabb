#pragma once
// Stop signals (SIGINT, SIGTERM) during process start-up. A signal that arrives before a service
// has installed its handler takes the default action: the process dies with 143 instead of
// shutting down gracefully (seen when a supervisor or test stops a worker that is still
// starting). So main() blocks them first thing, every thread started later inherits that, and
// each command unblocks them on the main thread once its handler exists (an asio::signal_set
// in the service object; the audit command sigwait()s instead and leaves them blocked). A
// signal that came meanwhile is delivered at that moment and handled like any other.

#include <csignal>

namespace llmp {

/// Blocks SIGINT and SIGTERM in the calling thread (and so in the threads it starts later);
/// returns the mask before, for restore_signal_mask.
sigset_t block_stop_signals();
/// Unblocks them in the calling thread; a pending one is delivered now.
void unblock_stop_signals();
/// Sets the calling thread's mask back to what block_stop_signals returned.
void restore_signal_mask(const sigset_t& mask);
/// For a process whose every thread has them blocked: waits for SIGINT or SIGTERM (sigwait)
/// and returns which came.
int wait_for_stop_signal();

}  // namespace llmp
