#include "api/ollama_renderer.hpp"

#include "common/errc.hpp"
#include "common/json_escape.hpp"
#include "common/tool_calls.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::int64_t ns_of_ms(double ms) {
    return ms > 0 ? static_cast<std::int64_t>(std::llround(ms * 1e6)) : 0;
}

class ollama_renderer final : public stream_renderer {
public:
    ollama_renderer(request_kind kind, bool stream, std::string model)
        : kind_{kind}, stream_{stream}, model_{std::move(model)} {}

    bool streaming() const override { return stream_; }
    std::string_view content_type() const override { return "application/x-ndjson"; }

    void start(std::string&, const request_message&) override {
        // Every line starts the same way: {"model":"...","created_at":"
        prefix_.assign("{\"model\":");
        append_json_string(prefix_, model_);
        prefix_.append(",\"created_at\":\"");
    }

    void token(std::string& out, std::string_view text, std::int64_t) override {
        out.append(prefix_).append(ollama_timestamp(std::chrono::system_clock::now())).append("\",");
        if (kind_ == request_kind::chat) {
            out.append("\"message\":{\"role\":\"assistant\",\"content\":");
            append_json_string(out, text);
            out.push_back('}');
        } else {
            out.append("\"response\":");
            append_json_string(out, text);
        }
        out.append(",\"done\":false}\n");
    }

    void done(std::string& out, const final_message& f, const relay_timings& t) override {
        if (kind_ == request_kind::chat && f.tool_calls.is_array() && !f.tool_calls.empty()) {
            // As Ollama streams them: the calls in a done:false line of their own.
            json calls = {
                {"model", model_},
                {"created_at", ollama_timestamp(std::chrono::system_clock::now())},
                {"message",
                 {{"role", "assistant"}, {"content", ""}, {"tool_calls", tool_calls_to_ollama(f.tool_calls)}}},
                {"done", false}};
            out.append(calls.dump(-1, ' ', false, json::error_handler_t::replace)).push_back('\n');
        }
        out.append(final_object(f, "", t, false).dump(-1, ' ', false, json::error_handler_t::replace)).push_back('\n');
    }

    void error(std::string& out, const error_message& e) override {
        json j = {{"error", e.message}};
        out.append(j.dump(-1, ' ', false, json::error_handler_t::replace)).push_back('\n');
    }

    void keepalive(std::string&) override {}  // an empty NDJSON line would break the clients

    http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) override {
        auto res = http_server::json_response(http::status::ok, final_object(f, text, t, true));
        res.set(http::field::content_type, "application/json; charset=utf-8");
        return res;
    }

    http_server::response failure(const llmp::error& e) override { return ollama_error_response(e, model_); }

private:
    /// The done:true object; `with_calls`: the tool calls in its message (a whole reply).
    json final_object(const final_message& f, const std::string& text, const relay_timings& t, bool with_calls) const {
        json j = {{"model", model_}, {"created_at", ollama_timestamp(std::chrono::system_clock::now())}};
        if (kind_ == request_kind::chat) {
            j["message"] = {{"role", "assistant"}, {"content", text}};
            if (with_calls && f.tool_calls.is_array() && !f.tool_calls.empty()) {
                j["message"]["tool_calls"] = tool_calls_to_ollama(f.tool_calls);
            }
        } else {
            j["response"] = text;
        }
        j["done"] = true;
        // Ollama ends a tool call with "stop" (its OpenAI layer is what says "tool_calls").
        j["done_reason"] = f.done_reason.empty() || f.done_reason == "tool_calls" ? "stop" : f.done_reason;
        j.update(ollama_final_metrics(f, t));
        if (f.logprobs.is_array() && !f.logprobs.empty()) {
            // Every token's (they come with the final), in Ollama's shape: an empty
            // top_logprobs left out as Ollama's omitempty does.
            json list = f.logprobs;
            for (auto& e : list) {
                if (e.is_object() && e.contains("top_logprobs") && e["top_logprobs"].empty()) {
                    e.erase("top_logprobs");
                }
            }
            j["logprobs"] = std::move(list);
        }
        return j;
    }

    request_kind kind_;
    bool stream_;
    std::string model_;
    std::string prefix_;
};

}  // namespace

std::unique_ptr<stream_renderer> make_ollama_renderer(request_kind kind, bool stream, std::string model) {
    return std::make_unique<ollama_renderer>(kind, stream, std::move(model));
}

std::string ollama_timestamp(std::chrono::system_clock::time_point t) {
    auto since = t.time_since_epoch();
    auto secs = std::chrono::floor<std::chrono::seconds>(since);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
    std::time_t tt = secs.count();
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out{buf, n};
    if (ns > 0) {
        char frac[32];
        std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(ns));
        std::string f{frac};
        while (f.back() == '0') {
            f.pop_back();
        }
        out += f;
    }
    out += 'Z';
    return out;
}

json ollama_final_metrics(const final_message& f, const relay_timings& t) {
    // Derived: the whole request as this server saw it; prompt evaluation is the worker's time
    // to the first token, generation the rest of the worker's time. Nothing is known of loading.
    double worker_ttft = f.ttft_ms > 0 ? f.ttft_ms : 0;
    double worker_gen = f.duration_ms > worker_ttft ? f.duration_ms - worker_ttft : 0;
    json m = {{"total_duration", ns_of_ms(t.total_ms)}, {"load_duration", 0},
              {"prompt_eval_count", f.prompt_tokens},   {"prompt_eval_duration", ns_of_ms(worker_ttft)},
              {"eval_count", f.completion_tokens},      {"eval_duration", ns_of_ms(worker_gen)}};
    // The upstream Ollama's own figures, where the provider passed them on, win.
    for (auto& [key, value] : m.items()) {
        if (auto it = f.provider_metrics.find(key); it != f.provider_metrics.end() && it->is_number_integer()) {
            value = *it;
        }
    }
    return m;
}

http_server::response ollama_error_response(const llmp::error& e, const std::string& model) {
    // Ollama's body is the message alone; status and Retry-After are the code's (common/errc.hpp).
    std::string message = e.message;
    if (e.code == wire_name(errc::model_not_found) && !model.empty()) {
        message = "model \"" + model + "\" not found, try pulling it first";
    }
    auto res = http_server::error_response(e, json{{"error", message}});
    res.set(http::field::content_type, "application/json; charset=utf-8");
    return res;
}

}  // namespace llmp::api
