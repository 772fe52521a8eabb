#include "api/embedding_renderer.hpp"

#include "api/ollama_renderer.hpp"
#include "api/openai_renderer.hpp"
#include "common/base64.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstring>

namespace llmp::api {
namespace {

using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little, "float32_base64 writes the host's byte order");

std::int64_t ns_of_ms(double ms) {
    return ms > 0 ? static_cast<std::int64_t>(std::llround(ms * 1e6)) : 0;
}

class embedding_renderer final : public stream_renderer {
public:
    embedding_renderer(embedding_flavour flavour, bool base64, std::string model)
        : flavour_{flavour}, base64_{base64}, model_{std::move(model)} {}

    bool streaming() const override { return false; }
    std::string_view content_type() const override { return "application/json"; }

    // Never streamed: the relay calls only complete() and failure().
    void start(std::string&, const request_message&) override {}
    void token(std::string&, std::string_view, std::int64_t) override {}
    void done(std::string&, const final_message&, const relay_timings&) override {}
    void error(std::string&, const error_message&) override {}
    void keepalive(std::string&) override {}

    http_server::response complete(const final_message& f, const std::string&, const relay_timings& t) override {
        const json vectors = f.embeddings.is_array() ? f.embeddings : json::array();
        json body;
        if (flavour_ == embedding_flavour::openai) {
            json data = json::array();
            for (std::size_t i = 0; i < vectors.size(); ++i) {
                data.push_back({{"object", "embedding"},
                                {"index", i},
                                {"embedding", base64_ ? json(float32_base64(vectors[i])) : vectors[i]}});
            }
            body = {{"object", "list"},
                    {"data", std::move(data)},
                    {"model", model_},
                    {"usage", {{"prompt_tokens", f.prompt_tokens}, {"total_tokens", f.prompt_tokens}}}};
        } else if (flavour_ == embedding_flavour::ollama) {
            // The upstream Ollama's own durations where the provider passed them on.
            auto metric = [&](const char* key, std::int64_t fallback) {
                auto it = f.provider_metrics.find(key);
                return it != f.provider_metrics.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
            };
            body = {{"model", model_},
                    {"embeddings", vectors},
                    {"total_duration", metric("total_duration", ns_of_ms(t.total_ms))},
                    {"load_duration", metric("load_duration", 0)},
                    {"prompt_eval_count", f.prompt_tokens}};
        } else {
            body = {{"embedding", vectors.empty() ? json::array() : vectors[0]}};
        }
        auto res = http_server::json_response(http::status::ok, body);
        if (flavour_ != embedding_flavour::openai) {
            res.set(http::field::content_type, "application/json; charset=utf-8");
        }
        return res;
    }

    http_server::response failure(const llmp::error& e) override {
        return flavour_ == embedding_flavour::openai ? openai_error_response(e) : ollama_error_response(e, model_);
    }

private:
    embedding_flavour flavour_;
    bool base64_;
    std::string model_;
};

}  // namespace

std::string float32_base64(const nlohmann::json& vector) {
    std::string bytes;
    if (vector.is_array()) {
        bytes.resize(vector.size() * sizeof(float));
        for (std::size_t i = 0; i < vector.size(); ++i) {
            const float v = vector[i].is_number() ? static_cast<float>(vector[i].get<double>()) : 0.0F;
            std::memcpy(bytes.data() + i * sizeof(float), &v, sizeof(float));
        }
    }
    return base64_encode(bytes);
}

std::unique_ptr<stream_renderer> make_embedding_renderer(embedding_flavour flavour, bool base64, std::string model) {
    return std::make_unique<embedding_renderer>(flavour, base64, std::move(model));
}

}  // namespace llmp::api
