#include "api/responses_renderer.hpp"

#include "api/openai_renderer.hpp"
#include "api/responses_objects.hpp"
#include "common/clock.hpp"
#include "common/json_escape.hpp"
#include "http/chunked_response.hpp"
#include "http/error_response.hpp"

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

class responses_renderer final : public stream_renderer {
public:
    explicit responses_renderer(responses_reply_options o) : o_{std::move(o)} {}

    bool streaming() const override { return o_.stream; }
    std::string_view content_type() const override { return "text/event-stream"; }
    std::vector<std::pair<std::string, std::string>> stream_headers() const override {
        return http_server::sse_headers();
    }

    void start(std::string& out, const request_message& m) override {
        head_.request_id = m.request_id;
        head_.created_at = m.received_at_ms / 1000;
        head_.model = o_.model;
        head_.echo = o_.echo;
        auto snapshot = response_object(head_, response_outcome{});
        event(out, "response.created", {{"response", snapshot}});
        event(out, "response.in_progress", {{"response", std::move(snapshot)}});
    }

    void token(std::string& out, std::string_view text, std::int64_t) override {
        if (text.empty()) {
            return;
        }
        if (!message_open_) {
            open_message(out);
        }
        text_.append(text);
        // The per-token event, without a JSON document per token.
        out.append("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",");
        out.append("\"sequence_number\":").append(std::to_string(seq_++));
        out.append(",\"item_id\":");
        append_json_string(out, message_item_id(head_.request_id));
        out.append(",\"output_index\":0,\"content_index\":0,\"delta\":");
        append_json_string(out, text);
        out.append(",\"logprobs\":[]}\n\n");
    }

    void done(std::string& out, const final_message& f, const relay_timings&) override {
        auto o = outcome_of(f, text_, unix_ms() / 1000);
        auto items = output_items(head_.request_id, o);
        std::size_t index = 0;
        if (!items.empty() && items[0]["type"] == "message") {
            if (!message_open_) {
                open_message(out);
            }
            const auto& part = items[0]["content"][0];
            auto id = message_item_id(head_.request_id);
            event(out, "response.output_text.done",
                  {{"item_id", id},
                   {"output_index", 0},
                   {"content_index", 0},
                   {"text", text_},
                   {"logprobs", json::array()}});
            event(out, "response.content_part.done",
                  {{"item_id", id}, {"output_index", 0}, {"content_index", 0}, {"part", part}});
            event(out, "response.output_item.done", {{"output_index", 0}, {"item", items[0]}});
            index = 1;
        }
        for (std::size_t call = 0; index < items.size(); ++index, ++call) {
            const auto& item = items[index];
            auto id = item["id"];
            event(out, "response.output_item.added",
                  {{"output_index", index},
                   {"item", function_call_item(head_.request_id, call, o.tool_calls[call], "in_progress", false)}});
            event(out, "response.function_call_arguments.delta",
                  {{"item_id", id}, {"output_index", index}, {"delta", item["arguments"]}});
            event(out, "response.function_call_arguments.done",
                  {{"item_id", id}, {"output_index", index}, {"name", item["name"]}, {"arguments", item["arguments"]}});
            event(out, "response.output_item.done", {{"output_index", index}, {"item", item}});
        }
        auto type = o.status == "incomplete" ? "response.incomplete" : "response.completed";
        event(out, type, {{"response", response_object(head_, o)}});
        finished();
    }

    void error(std::string& out, const error_message& e) override {
        event(out, "error", {{"code", e.code}, {"message", e.message}, {"param", nullptr}});
        response_outcome o;
        o.status = "failed";
        o.text = text_;
        o.error_code = e.code;
        o.error_message = e.message;
        event(out, "response.failed", {{"response", response_object(head_, o)}});
        finished();
    }

    void keepalive(std::string& out) override { out.append(": keepalive\n\n"); }

    http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) override {
        response_head h;
        h.request_id = t.request_id;
        h.created_at = (unix_ms() - static_cast<std::int64_t>(t.total_ms)) / 1000;
        h.model = o_.model;
        h.echo = o_.echo;
        head_ = h;
        auto body = response_object(h, outcome_of(f, text, unix_ms() / 1000));
        finished();
        return http_server::json_response(http::status::ok, body);
    }

    http_server::response failure(const llmp::error& e) override {
        if (!head_.request_id.empty()) {
            finished();
        }
        return openai_error_response(e);
    }

private:
    /// One event: `event: type` and the data line with type and sequence_number first.
    void event(std::string& out, std::string_view type, json fields) {
        json ev = {{"type", type}, {"sequence_number", seq_++}};
        for (auto& [k, v] : fields.items()) {
            ev[k] = std::move(v);
        }
        out.append("event: ").append(type).append("\ndata: ").append(dump(ev)).append("\n\n");
    }

    void open_message(std::string& out) {
        message_open_ = true;
        auto id = message_item_id(head_.request_id);
        event(out, "response.output_item.added",
              {{"output_index", 0}, {"item", message_item(head_.request_id, "", "in_progress")}});
        event(out, "response.content_part.added",
              {{"item_id", id},
               {"output_index", 0},
               {"content_index", 0},
               {"part",
                {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}, {"logprobs", json::array()}}}});
    }

    void finished() {
        if (o_.on_finished && !head_.request_id.empty()) {
            o_.on_finished(head_.request_id);
        }
    }

    responses_reply_options o_;
    response_head head_;
    std::int64_t seq_ = 0;
    bool message_open_ = false;
    std::string text_;
};

}  // namespace

std::unique_ptr<stream_renderer> make_responses_renderer(responses_reply_options o) {
    return std::make_unique<responses_renderer>(std::move(o));
}

}  // namespace llmp::api
