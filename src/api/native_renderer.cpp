#include "api/native_renderer.hpp"

#include "common/json_escape.hpp"
#include "common/tool_calls.hpp"
#include "http/chunked_response.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace llmp::api {
namespace {

/// The done event's data; the tool calls (Ollama's shape, like the requests) when there are any,
/// and the tokens' logprobs (OpenAI's shape: token, logprob, bytes, top_logprobs) when asked.
nlohmann::json metrics_json(const final_message& f, const relay_timings& t) {
    nlohmann::json j = {{"request_id", t.request_id},
                        {"model", f.model},
                        {"done_reason", f.done_reason},
                        {"prompt_tokens", f.prompt_tokens},
                        {"completion_tokens", f.completion_tokens},
                        {"ttft_ms", t.ttft_ms},
                        {"total_ms", t.total_ms},
                        {"tokens_per_s", f.tokens_per_s},
                        {"worker_id", f.worker_id},
                        {"provider", f.provider}};
    if (f.tool_calls.is_array() && !f.tool_calls.empty()) {
        j["tool_calls"] = tool_calls_to_ollama(f.tool_calls);
    }
    if (f.logprobs.is_array() && !f.logprobs.empty()) {
        j["logprobs"] = f.logprobs;  // asked with logprobs: true; as the final carries them
    }
    return j;
}

class native_renderer final : public stream_renderer {
public:
    native_renderer(request_kind kind, bool stream, bool resumable)
        : kind_{kind}, stream_{stream}, resumable_{resumable} {}

    bool streaming() const override { return stream_; }
    std::string_view content_type() const override { return "text/event-stream"; }
    std::vector<std::pair<std::string, std::string>> stream_headers() const override {
        return http_server::sse_headers();
    }

    void start(std::string& out, const request_message& m) override {
        std::string data;
        data.append("{\"request_id\":\"").append(m.request_id).append("\",\"model\":");
        append_json_string(data, public_model_name(m));
        data.push_back('}');
        sse::append_event(out, "start", data);
    }

    void token(std::string& out, std::string_view text, std::int64_t seq) override {
        scratch_.clear();
        scratch_.append("{\"content\":");
        append_json_string(scratch_, text);
        scratch_.push_back('}');
        last_seq_ = seq;
        sse::append_event(out, "token", scratch_, event_id(seq));
    }

    void done(std::string& out, const final_message& f, const relay_timings& t) override {
        sse::append_event(out, "done",
                          metrics_json(f, t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), end_id());
    }

    void error(std::string& out, const error_message& e) override {
        nlohmann::json j{{"code", e.code}, {"message", e.message}};
        sse::append_event(out, "error", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), end_id());
    }

    void keepalive(std::string& out) override { sse::append_comment(out, "keepalive"); }

    http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) override {
        auto body = metrics_json(f, t);
        body["done"] = true;
        if (kind_ == request_kind::chat) {
            body["message"] = {{"role", "assistant"}, {"content", text}};
            if (auto calls = body.find("tool_calls"); calls != body.end()) {
                body["message"]["tool_calls"] = std::move(*calls);
                body.erase(calls);
            }
        } else {
            body["response"] = text;
        }
        return http_server::json_response(http::status::ok, body);
    }

    http_server::response failure(const llmp::error& e) override { return http_server::error_response(e); }

private:
    /// to_chars, not snprintf: this runs per token, and snprintf's format machinery cost ~600
    /// instructions of the API's ~25 k per token (bench/RESULTS.md, issue 13).
    std::string_view event_id(std::int64_t n) {
        const auto written = std::to_chars(id_, id_ + sizeof id_, n);  // 24 chars: any int64
        return {id_, static_cast<std::size_t>(written.ptr - id_)};
    }

    /// The closing event's id on a resumable stream: one past the last chunk's seq, so that a
    /// client whose Last-Event-ID is the last token's still gets the end when it resumes. A
    /// plain stream's closing event has none (as before).
    std::string_view end_id() { return resumable_ ? event_id(last_seq_ + 1) : std::string_view{}; }

    request_kind kind_;
    bool stream_;
    bool resumable_;
    std::int64_t last_seq_ = 0;
    char id_[24];
    std::string scratch_;
};

}  // namespace

std::unique_ptr<stream_renderer> make_native_renderer(request_kind kind, bool stream, bool resumable) {
    return std::make_unique<native_renderer>(kind, stream, resumable);
}

}  // namespace llmp::api
