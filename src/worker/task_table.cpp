#include "worker/task_table.hpp"

#include "worker/generation_task.hpp"

#include <algorithm>

namespace llmp::worker {

task_table::admission task_table::admit(const std::shared_ptr<generation_task>& task) {
    llmp::lock_guard lock{mu_};
    if (task->origin().epoch <= lost_epoch_) {
        return admission::lost;
    }
    tasks_.emplace(task->request_id(), task);
    return cancelled_.take(task->request_id()) ? admission::cancelled : admission::start;
}

void task_table::remove(const generation_task& task) {
    llmp::lock_guard lock{mu_};
    auto [first, last] = tasks_.equal_range(task.request_id());
    for (auto it = first; it != last; ++it) {
        if (it->second.get() == &task) {
            tasks_.erase(it);
            return;
        }
    }
}

std::vector<std::shared_ptr<generation_task>> task_table::cancel(const std::string& request_id) {
    std::vector<std::shared_ptr<generation_task>> found;
    llmp::lock_guard lock{mu_};
    // Remembered even when a copy is here: another may be admitted later.
    cancelled_.add(request_id);
    auto [first, last] = tasks_.equal_range(request_id);
    for (auto it = first; it != last; ++it) {
        found.push_back(it->second);
    }
    return found;
}

std::vector<std::shared_ptr<generation_task>> task_table::lose_connection(std::uint64_t epoch) {
    std::vector<std::shared_ptr<generation_task>> all;
    llmp::lock_guard lock{mu_};
    lost_epoch_ = std::max(lost_epoch_, epoch);
    all.reserve(tasks_.size());
    for (auto& [id, t] : tasks_) {
        all.push_back(t);
    }
    return all;
}

std::size_t task_table::size() const {
    llmp::lock_guard lock{mu_};
    return tasks_.size();
}

}  // namespace llmp::worker
