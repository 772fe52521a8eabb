#include "worker/recent_cancels.hpp"

namespace llmp::worker {

void recent_cancels::add(std::string request_id) {
    if (capacity_ == 0 || ids_.contains(request_id)) {
        return;
    }
    // Ids already taken still sit in order_: drop them first, then the oldest live one.
    while (ids_.size() >= capacity_ || order_.size() >= 2 * capacity_) {
        ids_.erase(order_.front());
        order_.pop_front();
    }
    ids_.insert(request_id);
    order_.push_back(std::move(request_id));
}

bool recent_cancels::take(const std::string& request_id) {
    return ids_.erase(request_id) > 0;
}

}  // namespace llmp::worker
