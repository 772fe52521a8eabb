#include "common/stop_signals.hpp"

#include <pthread.h>

#include <csignal>

namespace llmp {
namespace {

sigset_t stop_signal_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

}  // namespace

sigset_t block_stop_signals() {
    const auto set = stop_signal_set();
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &set, &old);
    return old;
}

void unblock_stop_signals() {
    const auto set = stop_signal_set();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void restore_signal_mask(const sigset_t& mask) {
    pthread_sigmask(SIG_SETMASK, &mask, nullptr);
}

int wait_for_stop_signal() {
    const auto set = stop_signal_set();
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

}  // namespace llmp
