#pragma once
// stream_registry: request id -> the live stream's sink. Written by HTTP handlers (I/O threads),
// read by the response consumer thread. The mutex is held only to copy a pointer
// (chat-multi's shared_state pattern), never across I/O.

#include "api/response_sink.hpp"
#include "common/mutex.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmp::api {

class stream_registry {
public:
    void add(const std::string& request_id, const std::shared_ptr<response_sink>& sink) {
        llmp::lock_guard lock{mu_};
        streams_[request_id] = sink;
    }
    void remove(const std::string& request_id) {
        llmp::lock_guard lock{mu_};
        streams_.erase(request_id);
    }
    std::shared_ptr<response_sink> find(const std::string& request_id) const {
        llmp::lock_guard lock{mu_};
        auto it = streams_.find(request_id);
        return it == streams_.end() ? nullptr : it->second.lock();
    }
    /// Every live sink (to end them all: broker lost, shutdown).
    std::vector<std::shared_ptr<response_sink>> snapshot() const {
        std::vector<std::shared_ptr<response_sink>> out;
        llmp::lock_guard lock{mu_};
        for (const auto& [id, w] : streams_) {
            if (auto s = w.lock()) {
                out.push_back(std::move(s));
            }
        }
        return out;
    }
    std::size_t size() const {
        llmp::lock_guard lock{mu_};
        return streams_.size();
    }

private:
    mutable llmp::mutex mu_;
    std::unordered_map<std::string, std::weak_ptr<response_sink>> streams_ GUARDED_BY(mu_);
};

}  // namespace llmp::api
