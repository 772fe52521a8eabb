#pragma once
// exact_allocator: an allocator for Asio handlers that allocates an operation at its own size
// with operator new, and exact_allocation(h): a handler wrapper that gives `h` that allocator.
//
// Why: by default Asio reuses the thread's last freed operation block when it is large enough,
// so a small wait armed after a large write (a response head) keeps the write's ~530-byte block
// for as long as it waits. For the waits an open stream holds for minutes (the hang-up watch,
// the sink's signal) that is memory per open stream (issue 13, item 5). Not for short
// operations: recycling is what makes those cheap.
// Thread contract: none of its own; the wrapped handler keeps its executor.

#include "common/asio_fwd.hpp"

#include <boost/asio/associated_executor.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace llmp::api {

template <class T>
struct exact_allocator {
    using value_type = T;
    exact_allocator() = default;
    template <class U>
    exact_allocator(const exact_allocator<U>& /*other*/) noexcept {}
    T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>{}.deallocate(p, n); }
    friend bool operator==(const exact_allocator&, const exact_allocator&) noexcept { return true; }
    friend bool operator!=(const exact_allocator&, const exact_allocator&) noexcept { return false; }
};

/// `h` with exact_allocator as its associated allocator, its executor unchanged.
template <class Handler>
class exact_allocation {
public:
    using allocator_type = exact_allocator<void>;
    using executor_type = net::associated_executor_t<Handler>;

    explicit exact_allocation(Handler h) : h_{std::move(h)} {}
    allocator_type get_allocator() const noexcept { return {}; }
    executor_type get_executor() const noexcept { return net::get_associated_executor(h_); }

    template <class... Args>
    void operator()(Args&&... args) {
        std::move(h_)(std::forward<Args>(args)...);
    }

private:
    Handler h_;
};

}  // namespace llmp::api
