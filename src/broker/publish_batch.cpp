#include "broker/publish_batch.hpp"

#include <string>
#include <unordered_map>

namespace llmp::broker {

void plan_batch(const std::vector<queued_job>& batch, std::vector<std::size_t>& carrier) {
    carrier.assign(batch.size(), not_written);
    std::unordered_map<std::string_view, std::size_t> open_chunk;  // correlation id -> carrier
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& e = batch[i];
        if (e.stop) {
            continue;
        }
        carrier[i] = i;
        const std::string& key = e.job.msg.props.correlation_id;
        if (key.empty()) {
            continue;
        }
        if (!e.job.coalesce) {
            open_chunk.erase(key);  // never merge a chunk past a final/error
            continue;
        }
        auto [it, fresh] = open_chunk.try_emplace(key, i);
        if (!fresh && batch[it->second].job.msg.routing_key == e.job.msg.routing_key) {
            carrier[i] = it->second;
        } else {
            it->second = i;
        }
    }
}

void merge_planned(std::vector<queued_job>& batch, const std::vector<std::size_t>& carrier) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto c = carrier[i];
        if (c == not_written || c == i) {
            continue;
        }
        auto& into = batch[c].job.msg;
        auto& from = batch[i].job.msg;
        into.body += from.body;
        into.props.headers = std::move(from.props.headers);
    }
}

}  // namespace llmp::broker
