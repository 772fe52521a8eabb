#include "common/stop_signals.hpp"

#include <pthread.h>

#include <csignal>

namespace llmp {
namespace {

void set_stop_signals(int how) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(how, &set, nullptr);
}

}  // namespace

void block_stop_signals() { set_stop_signals(SIG_BLOCK); }

void unblock_stop_signals() { set_stop_signals(SIG_UNBLOCK); }

}  // namespace llmp
