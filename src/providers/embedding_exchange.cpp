#include "providers/embedding_exchange.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace llmp::providers {

embedding_exchange::embedding_exchange(std::shared_ptr<const http_client::client> c, net::any_io_executor ex,
                                       const std::string& request_id, std::string provider, std::string peer,
                                       embedding_call call, generation_callbacks cb)
    : http_stream_generation{std::move(c),        std::move(ex),   request_id,
                             std::move(provider), std::move(peer), std::move(cb)},
      call_{std::move(call)} {}

http_client::outgoing_request embedding_exchange::make_request() {
    http_client::outgoing_request req;
    req.method = http::verb::post;
    req.target = call_.path;
    req.body = std::move(call_.body);
    for (auto& h : call_.headers) {
        req.headers.emplace_back(std::move(h.first), std::move(h.second));
    }
    return req;
}

error embedding_exchange::status_error(const http_client::response_head& head, std::string_view body) {
    return call_.status_error(head, body);
}

result<void> embedding_exchange::feed(std::string_view piece) {
    if (answer_.size() + piece.size() > max_embedding_body) {
        return fail("upstream_error", where() + " sent an embeddings answer larger than " +
                                          std::to_string(max_embedding_body) + " bytes");
    }
    answer_.append(piece);
    return ok();
}

void embedding_exchange::body_ended() {
    if (cancel_requested_) {
        finish_error({"cancelled", "generation cancelled", false});
        return;
    }
    auto parsed = call_.parse(answer_);
    if (!parsed) {
        auto e = parsed.error();
        e.message = where() + ": " + e.message;
        finish_error(std::move(e));
        return;
    }
    completion_ = std::move(parsed.value());
    end_seen_ = true;
    finish_complete();
}

nlohmann::json mock_embedding(std::string_view text, std::size_t dimensions) {
    const std::size_t n = dimensions == 0 ? 8 : dimensions;
    // FNV-1a of the text seeds a small xorshift generator: deterministic, no library.
    std::uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : text) {
        h = (h ^ c) * 1099511628211ULL;
    }
    std::vector<double> v(n);
    v[0] = 1.0 + static_cast<double>(text.size());
    for (std::size_t i = 1; i < n; ++i) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        v[i] = static_cast<double>(h % 2001) / 1000.0 - 1.0;
    }
    double norm = 0;
    for (double x : v) {
        norm += x * x;
    }
    norm = std::sqrt(norm);
    nlohmann::json out = nlohmann::json::array();
    for (double x : v) {
        // Rounded to float precision: what a float32 upstream (and base64) can carry exactly.
        out.push_back(static_cast<double>(static_cast<float>(x / norm)));
    }
    return out;
}

}  // namespace llmp::providers
