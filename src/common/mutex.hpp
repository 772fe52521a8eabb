#pragma once
// llmp::mutex: std::mutex with clang thread-safety annotations (common/thread_annotations.hpp),
// so members declared GUARDED_BY(mu_) are checked at compile time under clang -Wthread-safety.
// Its guards: llmp::lock_guard (held for a scope) and llmp::unique_lock (may unlock and relock
// within its scope; native() hands the underlying std::unique_lock to a
// std::condition_variable). A wait on a condition variable releases and retakes the mutex
// behind the analysis' back, which is sound: on return the mutex is held again. Write the
// wait's predicate as a loop around cv.wait(lock.native()) (or an annotated lambda) so the
// analysis sees the guarded reads.
//
// Threading: as std::mutex.

#include <mutex>

#include "common/thread_annotations.hpp"

namespace llmp {

class CAPABILITY("mutex") mutex {
public:
    mutex() = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    void lock() ACQUIRE() { m_.lock(); }
    void unlock() RELEASE() { m_.unlock(); }
    bool try_lock() TRY_ACQUIRE(true) { return m_.try_lock(); }

    /// The std::mutex itself, for std::unique_lock (llmp::unique_lock uses it).
    std::mutex& native() { return m_; }

private:
    std::mutex m_;
};

/// Holds a mutex for its whole scope (std::lock_guard).
class SCOPED_CAPABILITY lock_guard {
public:
    explicit lock_guard(mutex& m) ACQUIRE(m) : m_{m} { m_.lock(); }
    ~lock_guard() RELEASE() { m_.unlock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;

private:
    mutex& m_;
};

/// Holds a mutex from construction to destruction, except between unlock() and lock();
/// native() is for std::condition_variable::wait (which returns with the mutex held).
class SCOPED_CAPABILITY unique_lock {
public:
    explicit unique_lock(mutex& m) ACQUIRE(m) : lock_{m.native()} {}
    ~unique_lock() RELEASE() = default;
    unique_lock(const unique_lock&) = delete;
    unique_lock& operator=(const unique_lock&) = delete;

    void lock() ACQUIRE() { lock_.lock(); }
    void unlock() RELEASE() { lock_.unlock(); }

    std::unique_lock<std::mutex>& native() { return lock_; }

private:
    std::unique_lock<std::mutex> lock_;
};

}  // namespace llmp
