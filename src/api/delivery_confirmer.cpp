#include "api/delivery_confirmer.hpp"

#include <algorithm>
#include <iterator>

namespace llmp::api {

void delivery_confirmer::delivered(std::string request_id) {
    llmp::lock_guard lock{mu_};
    pending_.push_back(std::move(request_id));
}

std::vector<std::string> delivery_confirmer::take() {
    llmp::lock_guard lock{mu_};
    const auto n = std::min(max_ids_, pending_.size());
    std::vector<std::string> out{std::make_move_iterator(pending_.begin()),
                                 std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n))};
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    return out;
}

void delivery_confirmer::put_back(std::vector<std::string> ids) {
    llmp::lock_guard lock{mu_};
    pending_.insert(pending_.begin(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
}

std::size_t delivery_confirmer::pending() const {
    llmp::lock_guard lock{mu_};
    return pending_.size();
}

}  // namespace llmp::api
