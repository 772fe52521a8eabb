#include "api/openai_renderer.hpp"

#include "common/clock.hpp"
#include "common/errc.hpp"
#include "common/json_escape.hpp"
#include "common/json_get.hpp"
#include "http/chunked_response.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// One SSE event the way OpenAI writes it: a single data line and the blank line.
void append_data(std::string& out, std::string_view payload) {
    out.append("data: ").append(payload).append("\n\n");
}

json usage_json(const final_message& f) {
    return {{"prompt_tokens", f.prompt_tokens},
            {"completion_tokens", f.completion_tokens},
            {"total_tokens", f.prompt_tokens + f.completion_tokens}};
}

/// A choice's logprobs object as OpenAI answers it: {content: [...], refusal: null}.
json logprobs_json(const json& logprobs) {
    return {{"content", logprobs}, {"refusal", nullptr}};
}

/// What one choice ended with: choice 0's from the final's own fields, the others' from
/// final_message::choices (an absent one is an empty "stop").
struct choice_view {
    const std::string* text;
    const std::string* done_reason;
    const json* tool_calls;
    const json* logprobs;
};

choice_view choice_of(const final_message& f, int index, const std::string* text0) {
    static const std::string empty;
    static const std::string stop = "stop";
    static const json none = json::array();
    if (index == 0) {
        return {text0, &f.done_reason, &f.tool_calls, &f.logprobs};
    }
    for (const auto& c : f.choices) {
        if (c.index == index) {
            return {&c.text, &c.done_reason, &c.tool_calls, &c.logprobs};
        }
    }
    return {&empty, &stop, &none, &none};
}

json error_object(const llmp::error& e, std::string_view type, std::string_view code) {
    return {{"error", {{"message", e.message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

class openai_renderer final : public stream_renderer {
public:
    explicit openai_renderer(openai_reply_options o) : o_{std::move(o)} {}

    bool streaming() const override { return o_.stream; }
    std::string_view content_type() const override { return "text/event-stream"; }
    std::vector<std::pair<std::string, std::string>> stream_headers() const override {
        return http_server::sse_headers();
    }

    void start(std::string& out, const request_message& m) override {
        id_ = id_for(m.request_id);
        created_ = m.received_at_ms / 1000;
        // Every chunk starts with the same bytes; only the choice differs.
        prefix_.clear();
        prefix_.append("{\"id\":");
        append_json_string(prefix_, id_);
        prefix_.append(",\"object\":\"").append(chat() ? "chat.completion.chunk" : "text_completion");
        prefix_.append("\",\"created\":").append(std::to_string(created_)).append(",\"model\":");
        append_json_string(prefix_, o_.model);
        prefix_.append(",\"choices\":");
        suffix_ = o_.include_usage ? ",\"usage\":null}" : "}";
        if (chat()) {
            // The role comes once per choice, in its first delta.
            for (int i = 0; i < o_.n; ++i) {
                choice_chunk(out, R"({"role":"assistant","content":""})", "null", "null", i);
            }
        }
    }

    void token(std::string& out, std::string_view text, std::int64_t) override { text_chunk(out, text, 0); }

    void choice_token(std::string& out, int index, std::string_view text, std::int64_t) override {
        if (chat() && index > 0 && index < o_.n) {  // a choice asked for; anything else is no one's
            text_chunk(out, text, index);
        }
    }

    void text_chunk(std::string& out, std::string_view text, int index) {
        scratch_.clear();
        if (chat()) {
            scratch_.append("{\"content\":");
            append_json_string(scratch_, text);
            scratch_.push_back('}');
        } else {
            append_json_string(scratch_, text);
        }
        choice_chunk(out, scratch_, "null", "null", index);
    }

    void done(std::string& out, const final_message& f, const relay_timings&) override {
        for (int i = 0; i < o_.n; ++i) {
            auto c = choice_of(f, i, &f.text);
            if (chat()) {
                tool_call_chunks(out, *c.tool_calls, i);
                if (c.logprobs->is_array() && !c.logprobs->empty()) {
                    // They come with the final (chunks carry text only): one chunk with an empty
                    // delta holding every token's, which the SDKs append to the choice's.
                    choice_chunk(out, "{}", "null", dump(logprobs_json(*c.logprobs)), i);
                }
            }
            auto reason = "\"" + openai_finish_reason(*c.done_reason) + "\"";
            choice_chunk(out, chat() ? "{}" : "\"\"", reason, "null", i);
        }
        if (o_.include_usage) {
            std::string chunk = prefix_;
            chunk.append("[],\"usage\":").append(dump(usage_json(f))).push_back('}');
            append_data(out, chunk);
        }
        append_data(out, "[DONE]");
    }

    void error(std::string& out, const error_message& e) override {
        auto body = error_object({e.code, e.message, e.retryable}, "server_error", e.code);
        append_data(out, dump(body));
    }

    void keepalive(std::string& out) override { out.append(": keepalive\n\n"); }

    http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) override {
        json choices = json::array();
        for (int i = 0; i < o_.n; ++i) {
            choices.push_back(whole_choice(choice_of(f, i, &text), i));
        }
        json body = {{"id", id_for(t.request_id)},    {"object", chat() ? "chat.completion" : "text_completion"},
                     {"created", unix_ms() / 1000},   {"model", o_.model},
                     {"choices", std::move(choices)}, {"usage", usage_json(f)}};
        return http_server::json_response(http::status::ok, body);
    }

    http_server::response failure(const llmp::error& e) override { return openai_error_response(e); }

private:
    bool chat() const { return o_.kind == request_kind::chat; }

    /// One element of a whole reply's choices.
    json whole_choice(const choice_view& c, int index) const {
        const bool has_logprobs = chat() && c.logprobs->is_array() && !c.logprobs->empty();
        json choice = {{"index", index},
                       {"logprobs", has_logprobs ? logprobs_json(*c.logprobs) : json{}},
                       {"finish_reason", openai_finish_reason(*c.done_reason)}};
        if (chat()) {
            choice["message"] = {{"role", "assistant"}, {"content", *c.text}, {"refusal", nullptr}};
            if (c.tool_calls->is_array() && !c.tool_calls->empty()) {
                choice["message"]["tool_calls"] = *c.tool_calls;
                if (c.text->empty()) {
                    choice["message"]["content"] = nullptr;  // as OpenAI answers a call
                }
            }
        } else {
            choice["text"] = *c.text;
        }
        return choice;
    }

    std::string id_for(const std::string& request_id) const { return (chat() ? "chatcmpl-" : "cmpl-") + request_id; }

    /// A chunk with one choice, of index `index`: `content` is the delta object (chat) or the
    /// text literal (completions); `finish_reason` and `logprobs` JSON literals.
    void choice_chunk(std::string& out, std::string_view content, std::string_view finish_reason,
                      std::string_view logprobs = "null", int index = 0) {
        char digits[12];
        const auto end = std::to_chars(digits, digits + sizeof digits, index).ptr;
        const std::string_view idx{digits, static_cast<std::size_t>(end - digits)};
        out.append("data: ").append(prefix_);
        if (chat()) {
            out.append("[{\"index\":").append(idx).append(",\"delta\":").append(content);
        } else {
            out.append("[{\"text\":").append(content).append(",\"index\":").append(idx);
        }
        out.append(",\"logprobs\":").append(logprobs).append(",\"finish_reason\":").append(finish_reason).append("}]");
        out.append(suffix_).append("\n\n");
    }

    /// The tool calls of the final as OpenAI streams them, two chunks per call: the first with
    /// index, id, type, name and empty arguments, the second with the arguments (the SDKs
    /// concatenate the argument fragments of one index).
    void tool_call_chunks(std::string& out, const json& calls, int choice) {
        if (!calls.is_array()) {
            return;
        }
        int index = 0;
        for (const auto& c : calls) {
            if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
                continue;
            }
            const auto& fn = c["function"];
            json head = {{"index", index},
                         {"id", get_or<std::string>(c, "id", "")},
                         {"type", "function"},
                         {"function", {{"name", get_or<std::string>(fn, "name", "")}, {"arguments", ""}}}};
            choice_chunk(out, dump(json{{"tool_calls", json::array({std::move(head)})}}), "null", "null", choice);
            json args = {{"index", index}, {"function", {{"arguments", get_or<std::string>(fn, "arguments", "")}}}};
            choice_chunk(out, dump(json{{"tool_calls", json::array({std::move(args)})}}), "null", "null", choice);
            ++index;
        }
    }

    openai_reply_options o_;
    std::string id_;
    std::int64_t created_ = 0;
    std::string prefix_;
    std::string suffix_;
    std::string scratch_;
};

}  // namespace

std::unique_ptr<stream_renderer> make_openai_renderer(openai_reply_options o) {
    return std::make_unique<openai_renderer>(std::move(o));
}

std::string openai_finish_reason(const std::string& done_reason) {
    if (done_reason == "length" || done_reason == "tool_calls") {
        return done_reason;
    }
    return "stop";
}

http_server::response openai_error_response(const llmp::error& e) {
    // Status and Retry-After are the code's (common/errc.hpp); the type and code fields are what
    // the SDKs branch on.
    auto policy = reply_policy(e.code, e.retryable);
    int status = policy.http_status;
    std::string_view type = status == 429 ? "requests" : status < 500 ? "invalid_request_error" : "server_error";
    std::string_view code = status == 429 ? std::string_view{"rate_limit_exceeded"} : std::string_view{e.code};
    auto res = http_server::error_response(e, error_object(e, type, code));
    if (status >= 500 && !policy.retryable) {
        res.set("x-should-retry", "false");  // the SDKs would otherwise retry it twice
    }
    return res;
}

}  // namespace llmp::api
