#pragma once
// notifying_queue<T>: a bounded multi-producer queue whose single consumer is a thread that
// also waits on a socket (an AMQP connection). Producers (any thread, including Asio I/O
// threads) call try_push(), which never blocks: it returns false when the queue is full so the
// caller can answer "overloaded" at once. The consumer poll()s fd() together with its socket
// and calls drain() when fd() is readable.
//
// Signalling uses an eventfd written only on the empty -> non-empty transition, so a burst of
// pushes costs one syscall. The items live in a vector that drain() swaps with the consumer's
// (emptied) one, so at steady state a push allocates nothing (a deque allocated a node per
// push for items as large as a publish job).

#include "common/mutex.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

namespace llmp {

template <class T>
class notifying_queue {
public:
    explicit notifying_queue(std::size_t capacity)
        : capacity_{capacity}, fd_{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)} {
        if (fd_ < 0) {
            throw std::system_error(errno, std::generic_category(), "eventfd");
        }
    }
    ~notifying_queue() { ::close(fd_); }
    notifying_queue(const notifying_queue&) = delete;
    notifying_queue& operator=(const notifying_queue&) = delete;

    /// Non-blocking; false when full (the item is left untouched in that case).
    bool try_push(T&& item) {
        bool was_empty = false;
        {
            llmp::lock_guard lock{mu_};
            if (items_.size() >= capacity_) {
                return false;
            }
            was_empty = items_.empty() && !signalled_;
            items_.push_back(std::move(item));
            if (was_empty) {
                signalled_ = true;
            }
        }
        if (was_empty) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
        }
        return true;
    }

    /// Pushes even past capacity: for control items that must not be refused (acks, stop).
    void push_unbounded(T&& item) {
        bool was_empty = false;
        {
            llmp::lock_guard lock{mu_};
            was_empty = items_.empty() && !signalled_;
            items_.push_back(std::move(item));
            if (was_empty) {
                signalled_ = true;
            }
        }
        if (was_empty) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
        }
    }

    /// Consumer only: moves every queued item into `out` (appending) and clears the signal.
    void drain(std::vector<T>& out) {
        std::uint64_t v = 0;
        [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
        llmp::lock_guard lock{mu_};
        signalled_ = false;
        if (out.empty()) {
            out.swap(items_);  // items_ gets out's buffer (and keeps its capacity for next time)
            return;
        }
        for (auto& item : items_) {
            out.push_back(std::move(item));
        }
        items_.clear();
    }

    /// Readable (POLLIN) while items are waiting.
    int fd() const { return fd_; }

    std::size_t size() const {
        llmp::lock_guard lock{mu_};
        return items_.size();
    }

private:
    const std::size_t capacity_;
    const int fd_;
    mutable llmp::mutex mu_;
    std::vector<T> items_ GUARDED_BY(mu_);
    bool signalled_ GUARDED_BY(mu_) = false;
};

}  // namespace llmp
