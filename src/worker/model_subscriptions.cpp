#include "worker/model_subscriptions.hpp"

#include <algorithm>

namespace llmp::worker {

model_subscriptions::plan model_subscriptions::plan_for(const std::vector<std::string>& served) const {
    auto wanted = served;
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    const auto have = models();
    plan p;
    std::set_difference(wanted.begin(), wanted.end(), have.begin(), have.end(), std::back_inserter(p.start));
    std::set_difference(have.begin(), have.end(), wanted.begin(), wanted.end(), std::back_inserter(p.stop));
    return p;
}

void model_subscriptions::started(const std::string& model, std::string tag) {
    tags_[model] = std::move(tag);
}

void model_subscriptions::stopped(const std::string& model) {
    tags_.erase(model);
}

const std::string* model_subscriptions::model_of(std::string_view tag) const {
    for (const auto& [model, t] : tags_) {
        if (t == tag) {
            return &model;
        }
    }
    return nullptr;
}

const std::string* model_subscriptions::tag_of(std::string_view model) const {
    auto it = tags_.find(model);
    return it == tags_.end() ? nullptr : &it->second;
}

std::vector<std::string> model_subscriptions::models() const {
    std::vector<std::string> out;
    out.reserve(tags_.size());
    for (const auto& [model, tag] : tags_) {
        out.push_back(model);
    }
    return out;
}

}  // namespace llmp::worker
