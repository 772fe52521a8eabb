#include "providers/testing/fake_openai.hpp"

#include "providers/testing/fake_http_handler.hpp"

#include "common/asio_fwd.hpp"
#include "common/base64.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/mock/mock_text.hpp"
#include "providers/mock/mock_tool_calls.hpp"
#include "providers/testing/fake_logprobs.hpp"
#include "providers/provider.hpp"
#include "providers/request_text.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <ctime>
#include <mutex>
#include <utility>
#include <optional>

namespace llmp::providers::testing {
namespace {

using boost::system::error_code;
using ojson = nlohmann::ordered_json;
using request = http::request<http::string_body>;

constexpr std::string_view trigger_error_mid = "[[error-mid]]";
constexpr std::string_view trigger_429 = "[[429]]";
constexpr std::string_view trigger_error_before = "[[error-before]]";
constexpr std::string_view trigger_close_mid = "[[close-mid]]";
constexpr std::string_view trigger_stall = "[[stall]]";
constexpr int tokens_before_mid_failure = 3;

ojson error_object(std::string message, std::string type, const char* code, const char* param = nullptr) {
    ojson e{{"message", std::move(message)}, {"type", std::move(type)}};
    e["param"] = param == nullptr ? ojson(nullptr) : ojson(param);
    e["code"] = code == nullptr ? ojson(nullptr) : ojson(code);
    return ojson{{"error", std::move(e)}};
}

std::int64_t unix_now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace

struct fake_openai::impl final : fake_http_handler {
    impl(fake_openai_options o, fake_http_server& srv) : opts{std::move(o)}, server{srv}, models{opts.models} {}

    fake_openai_options opts;  // models: see `models` below
    fake_http_server& server;  // the fake_openai itself
    std::atomic<std::uint64_t> ids{0};

    mutable std::mutex mu;
    nlohmann::json last_request;      // GUARDED_BY(mu)
    nlohmann::json last_headers;      // GUARDED_BY(mu)
    std::vector<std::string> models;  // GUARDED_BY(mu): as configured or last set

    void set_models(std::vector<std::string> list) {
        std::lock_guard lock{mu};
        models = std::move(list);
    }

    std::vector<std::string> current_models() const {
        std::lock_guard lock{mu};
        return models;
    }

    /// PUT /_fake/models (outside the coroutine: GCC 12 miscompiles some temporaries in one).
    std::pair<http::status, ojson> put_models(const std::string& body) {
        auto list = models_of(body);
        if (!list) {
            return {http::status::bad_request,
                    error_object("expected {\"models\": [\"id\", ...]}", "invalid_request_error", nullptr)};
        }
        set_models(std::move(*list));
        return {http::status::ok, ojson{{"models", current_models()}}};
    }

    nlohmann::json stats() const {
        auto j = server.stats();
        std::lock_guard lock{mu};
        j["last_request"] = last_request;
        j["last_headers"] = last_headers;
        return j;
    }

    bool known_model(const std::string& id) const {
        std::lock_guard lock{mu};
        return std::find(models.begin(), models.end(), id) != models.end();
    }

    // -----------------------------------------------------------------------------------------

    net::awaitable<after> reply(beast::tcp_stream& stream, const request& req, http::status status, std::string body,
                                std::string_view retry_after = {}) {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::content_type, "application/json");
        if (!retry_after.empty()) {
            res.set(http::field::retry_after, retry_after);
        }
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        error_code ec;
        co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
        co_return ec ? after::client_gone : after::keep;
    }

    net::awaitable<after> reply_json(beast::tcp_stream& stream, const request& req, http::status status, const ojson& j,
                                     std::string_view retry_after = {}) {
        return reply(stream, req, status, j.dump(), retry_after);
    }

    /// The head of a chunked text/event-stream reply, as OpenAI sends it; the error of writing it.
    net::awaitable<error_code> start_event_stream(beast::tcp_stream& stream, const request& req) {
        http::response<http::empty_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/event-stream; charset=utf-8");
        res.set(http::field::cache_control, "no-cache");
        res.keep_alive(req.keep_alive());
        res.chunked(true);
        http::response_serializer<http::empty_body> sr{res};
        error_code ec;
        co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
        co_return ec;
    }

    ojson model_object(const std::string& id) const {
        auto slash = id.find('/');
        std::string owner = slash == std::string::npos ? std::string{"fake-org"} : id.substr(0, slash);
        return ojson{{"id", id}, {"object", "model"}, {"created", 1715367049}, {"owned_by", owner}};
    }

    /// The Authorization check, when the fake requires a key. Empty = allowed.
    std::optional<ojson> auth_failure(const request& req) const {
        if (opts.api_key.empty()) {
            return std::nullopt;
        }
        std::string_view auth = req[http::field::authorization];
        constexpr std::string_view bearer = "Bearer ";
        if (auth.substr(0, bearer.size()) != bearer) {
            return error_object(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error", nullptr);
        }
        auto key = auth.substr(bearer.size());
        if (key != opts.api_key) {
            std::string shown = key.size() > 4 ? "..." + std::string{key.substr(key.size() - 4)} : "***";
            return error_object("Incorrect API key provided: " + shown + ".", "invalid_request_error",
                                "invalid_api_key");
        }
        return std::nullopt;
    }

    net::awaitable<after> handle(beast::tcp_stream& stream, const request& req) override {
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        auto method = req.method();
        if (target == "/_fake/stats" && method == http::verb::get) {
            co_return co_await reply(stream, req, http::status::ok, stats().dump());
        }
        if (target == "/_fake/models" && method == http::verb::put) {
            auto put = put_models(req.body());
            co_return co_await reply_json(stream, req, put.first, put.second);
        }
        if (target.substr(0, 4) == "/v1/") {
            if (auto denied = auth_failure(req)) {
                co_return co_await reply_json(stream, req, http::status::unauthorized, *denied);
            }
        }
        if (target == "/v1/models" && method == http::verb::get) {
            ojson data = ojson::array();
            for (const auto& m : current_models()) {
                data.push_back(model_object(m));
            }
            ojson list{{"object", "list"}, {"data", std::move(data)}};
            co_return co_await reply_json(stream, req, http::status::ok, list);
        }
        if (target.substr(0, 11) == "/v1/models/" && method == http::verb::get) {
            std::string id{target.substr(11)};
            if (known_model(id)) {
                co_return co_await reply_json(stream, req, http::status::ok, model_object(id));
            }
            co_return co_await reply_json(stream, req, http::status::not_found, unknown_model(id));
        }
        if (target == "/v1/embeddings" && method == http::verb::post) {
            co_return co_await embeddings(stream, req);
        }
        if ((target == "/v1/chat/completions" || target == "/v1/completions") && method == http::verb::post) {
            co_return co_await generation(stream, req, target == "/v1/chat/completions");
        }
        ojson nf = error_object("Invalid URL (" + std::string{to_string(method)} + " " + std::string{target} + ")",
                                "invalid_request_error", nullptr);
        co_return co_await reply_json(stream, req, http::status::not_found, nf);
    }

    static ojson unknown_model(const std::string& id) {
        return error_object("The model `" + id + "` does not exist or you do not have access to it.",
                            "invalid_request_error", "model_not_found");
    }

    static ojson bad_request(std::string message, const char* param) {
        return error_object(std::move(message), "invalid_request_error", nullptr, param);
    }

    /// POST /v1/embeddings ({input: string | [string], model, encoding_format, dimensions}) ->
    /// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"};
    /// base64 = the float32 values, little-endian. Vectors: providers::mock_embedding.
    net::awaitable<after> embeddings(beast::tcp_stream& stream, const request& req) {
        auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded() || !body.is_object()) {
            co_return co_await reply_json(stream, req, http::status::bad_request,
                                          bad_request("We could not parse the JSON body of your request.", nullptr));
        }
        {
            std::lock_guard lock{mu};
            last_request = body;
        }
        auto model_it = body.find("model");
        if (model_it == body.end() || !model_it->is_string() || model_it->get_ref<const std::string&>().empty()) {
            co_return co_await reply_json(stream, req, http::status::bad_request,
                                          bad_request("you must provide a model parameter", "model"));
        }
        const std::string model = model_it->get<std::string>();
        std::vector<std::string> texts;
        const auto input = body.value("input", nlohmann::json{});
        if (input.is_string()) {
            texts.push_back(input.get<std::string>());
        } else if (input.is_array() && !input.empty()) {
            for (const auto& t : input) {
                if (!t.is_string()) {
                    texts.clear();
                    break;
                }
                texts.push_back(t.get<std::string>());
            }
        }
        if (texts.empty()) {
            co_return co_await reply_json(
                stream, req, http::status::bad_request,
                bad_request("'input' must be a string or a non-empty array of strings", "input"));
        }
        if (!known_model(model)) {
            co_return co_await reply_json(stream, req, http::status::not_found, unknown_model(model));
        }
        const std::string format = body.value("encoding_format", std::string{"float"});
        if (format != "float" && format != "base64") {
            co_return co_await reply_json(
                stream, req, http::status::bad_request,
                bad_request("'encoding_format' must be 'float' or 'base64'", "encoding_format"));
        }
        std::size_t dims = 0;
        if (auto d = body.find("dimensions"); d != body.end() && d->is_number_unsigned()) {
            dims = std::min<std::size_t>(d->get<std::size_t>(), 4096);
        }
        server.texts_embedded(texts.size());
        ojson data = ojson::array();
        std::int64_t tokens = 0;
        for (std::size_t i = 0; i < texts.size(); ++i) {
            auto v = providers::mock_embedding(texts[i], dims);
            ojson item{{"object", "embedding"}, {"index", i}};
            if (format == "base64") {
                std::string bytes(v.size() * sizeof(float), '\0');
                for (std::size_t k = 0; k < v.size(); ++k) {
                    const float f = v[k].get<float>();
                    std::memcpy(bytes.data() + k * sizeof(float), &f, sizeof(float));
                }
                item["embedding"] = base64_encode(bytes);
            } else {
                item["embedding"] = ojson::parse(v.dump());
            }
            data.push_back(std::move(item));
            tokens += providers::mock_prompt_tokens(texts[i]);
        }
        ojson j{{"object", "list"},
                {"data", std::move(data)},
                {"model", model},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
        co_return co_await reply_json(stream, req, http::status::ok, j);
    }

    /// OpenAI's 400 for an image_url it cannot use (a data: URL that is not base64 image data);
    /// "" when every image is usable; counted by the server (a remote URL as 0 bytes: the fake
    /// fetches nothing).
    std::string image_problem(const nlohmann::json& messages) {
        std::vector<std::uint64_t> sizes;
        for (const auto& m : messages) {
            auto content = m.is_object() ? m.find("content") : m.end();
            if (content == m.end() || !content->is_array()) {
                continue;
            }
            for (const auto& part : *content) {
                if (!part.is_object() || part.value("type", "") != "image_url") {
                    continue;
                }
                auto img = part.value("image_url", nlohmann::json{});
                const std::string url = img.is_object() ? img.value("url", "") : "";
                if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
                    sizes.push_back(0);
                    continue;
                }
                auto comma = url.find(',');
                auto bytes = url.rfind("data:image/", 0) == 0 && comma != std::string::npos &&
                                     url.rfind(";base64", comma) != std::string::npos
                                 ? base64_decode(std::string_view{url}.substr(comma + 1))
                                 : std::nullopt;
                if (!bytes) {
                    return "Invalid image URL: '" + url.substr(0, 40) +
                           "'. Expected a base64-encoded data URL with an image MIME type.";
                }
                sizes.push_back(bytes->size());
            }
        }
        for (auto n : sizes) {
            server.image_received(n);
        }
        return {};
    }

    /// What OpenAI refuses in a conversation with tools (its 400 messages): arguments that are
    /// not a string, a tool message that answers no earlier call; "" when the history is fine.
    static std::string tool_history_problem(const nlohmann::json& messages) {
        std::vector<std::string> call_ids;
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const auto& m = messages[i];
            if (!m.is_object()) {
                continue;
            }
            if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array()) {
                for (const auto& c : *calls) {
                    if (!c.is_object() || !c.contains("id") || !c["id"].is_string() ||
                        c.value("type", "") != "function" || !c.contains("function") || !c["function"].is_object() ||
                        !c["function"].value("arguments", nlohmann::json{}).is_string()) {
                        return "Invalid value for 'messages[" + std::to_string(i) +
                               "].tool_calls': expected {id, type: 'function', function: {name, arguments: string}}.";
                    }
                    call_ids.push_back(c["id"].get<std::string>());
                }
            }
            if (m.value("role", "") == "tool") {
                auto id = m.value("tool_call_id", nlohmann::json{});
                if (!id.is_string() ||
                    std::find(call_ids.begin(), call_ids.end(), id.get<std::string>()) == call_ids.end()) {
                    return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                           "with 'tool_calls'.";
                }
            }
        }
        return {};
    }

    /// Tool calls as OpenAI answers them. Streamed: the first chunk's delta holds the role,
    /// content null and the first call's head (index, id, type, name, arguments ""); then the
    /// arguments in fragments of up to 7 bytes ({index, function: {arguments}}), each later call
    /// starting with its head; an empty delta with finish_reason "tool_calls"; the usage chunk
    /// when asked; [DONE]. Not streamed: message.content null and message.tool_calls.
    net::awaitable<after> answer_with_tool_calls(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                                 const std::vector<mock_call>& calls, const std::string& model,
                                                 bool stream_mode, bool include_usage, std::int64_t prompt_tokens) {
        const std::string id = "chatcmpl-fake" + std::to_string(++ids);
        const std::int64_t created = unix_now();
        std::int64_t completion_tokens = 0;
        for (const auto& c : calls) {
            completion_tokens += static_cast<std::int64_t>(c.arguments.dump().size() / 4 + 5);
        }
        ojson usage{{"prompt_tokens", prompt_tokens},
                    {"completion_tokens", completion_tokens},
                    {"total_tokens", prompt_tokens + completion_tokens}};
        if (!stream_mode) {
            ojson list = ojson::array();
            for (const auto& c : calls) {
                list.push_back(ojson{{"id", c.id},
                                     {"type", "function"},
                                     {"function", ojson{{"name", c.name}, {"arguments", c.arguments.dump()}}}});
            }
            ojson choice{{"index", 0},
                         {"message", ojson{{"role", "assistant"},
                                           {"content", nullptr},
                                           {"tool_calls", std::move(list)},
                                           {"refusal", nullptr}}},
                         {"logprobs", nullptr},
                         {"finish_reason", "tool_calls"}};
            ojson whole{
                {"id", id},       {"object", "chat.completion"},     {"created", created},
                {"model", model}, {"system_fingerprint", "fp_fake"}, {"choices", ojson::array({std::move(choice)})},
                {"usage", usage}};
            co_return co_await reply_json(stream, req, http::status::ok, whole);
        }
        error_code ec = co_await start_event_stream(stream, req);
        if (ec) {
            co_return after::client_gone;
        }
        std::string events;
        auto chunk = [&](ojson delta, const char* finish_reason, bool last) {
            ojson c{{"id", id},
                    {"object", "chat.completion.chunk"},
                    {"created", created},
                    {"model", model},
                    {"system_fingerprint", "fp_fake"},
                    {"choices",
                     last ? ojson::array()
                          : ojson::array({ojson{{"index", 0},
                                                {"delta", std::move(delta)},
                                                {"logprobs", nullptr},
                                                {"finish_reason",
                                                 finish_reason == nullptr ? ojson(nullptr) : ojson(finish_reason)}}})}};
            if (last) {
                c["usage"] = usage;
            } else if (include_usage) {
                c["usage"] = nullptr;
            }
            events += "data: " + c.dump() + "\n\n";
        };
        for (std::size_t i = 0; i < calls.size(); ++i) {
            ojson head{{"index", i},
                       {"id", calls[i].id},
                       {"type", "function"},
                       {"function", ojson{{"name", calls[i].name}, {"arguments", ""}}}};
            ojson delta{{"tool_calls", ojson::array({std::move(head)})}};
            if (i == 0) {
                delta = ojson{{"role", "assistant"},
                              {"content", nullptr},
                              {"tool_calls", delta["tool_calls"]},
                              {"refusal", nullptr}};
            }
            chunk(std::move(delta), nullptr, false);
            const std::string args = calls[i].arguments.dump();
            for (std::size_t at = 0; at < args.size(); at += 7) {
                ojson piece{{"index", i}, {"function", ojson{{"arguments", args.substr(at, 7)}}}};
                chunk(ojson{{"tool_calls", ojson::array({std::move(piece)})}}, nullptr, false);
            }
        }
        chunk(ojson::object(), "tool_calls", false);
        if (include_usage) {
            chunk(ojson{}, nullptr, true);
        }
        events += "data: [DONE]\n\n";
        co_await net::async_write(stream, http::make_chunk(net::buffer(events)),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            co_return after::client_gone;
        }
        co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(net::use_awaitable, ec));
        co_return ec ? after::client_gone : after::keep;
    }

    net::awaitable<after> generation(beast::tcp_stream& stream, const request& req, bool chat) {
        auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
        {
            std::lock_guard lock{mu};
            if (body.is_discarded()) {
                last_request = req.body();
            } else {
                last_request = body;
            }
            nlohmann::json headers = nlohmann::json::object();
            for (const auto& f : req) {
                std::string name{f.name_string()};
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
                headers[name] = std::string{f.value()};
            }
            last_headers = std::move(headers);
        }
        if (body.is_discarded() || !body.is_object()) {
            co_return co_await reply_json(stream, req, http::status::bad_request,
                                          bad_request("We could not parse the JSON body of your request.", nullptr));
        }
        auto model_it = body.find("model");
        if (model_it == body.end() || !model_it->is_string() || model_it->get_ref<const std::string&>().empty()) {
            co_return co_await reply_json(stream, req, http::status::bad_request,
                                          bad_request("you must provide a model parameter", "model"));
        }
        const std::string model = model_it->get<std::string>();

        providers::generation_request greq;
        greq.kind = chat ? request_kind::chat : request_kind::generate;
        if (chat) {
            auto m = body.find("messages");
            if (m == body.end() || !m->is_array() || m->empty()) {
                co_return co_await reply_json(stream, req, http::status::bad_request,
                                              bad_request("'messages' must contain at least one message", "messages"));
            }
            if (auto bad = tool_history_problem(*m); !bad.empty()) {
                co_return co_await reply_json(stream, req, http::status::bad_request, bad_request(bad, "messages"));
            }
            if (auto bad = image_problem(*m); !bad.empty()) {
                co_return co_await reply_json(stream, req, http::status::bad_request, bad_request(bad, "messages"));
            }
            greq.messages = *m;
        } else {
            auto p = body.find("prompt");
            if (p != body.end() && p->is_string()) {
                greq.prompt = p->get<std::string>();
            } else if (p != body.end() && p->is_array() && !p->empty() && p->front().is_string()) {
                greq.prompt = p->front().get<std::string>();
            } else {
                co_return co_await reply_json(stream, req, http::status::bad_request,
                                              bad_request("'prompt' is a required property", "prompt"));
            }
        }
        if (!known_model(model)) {
            co_return co_await reply_json(stream, req, http::status::not_found, unknown_model(model));
        }
        bool stream_mode = false;
        if (auto s = body.find("stream"); s != body.end() && s->is_boolean()) {
            stream_mode = s->get<bool>();
        }
        bool include_usage = false;
        if (auto so = body.find("stream_options"); so != body.end() && so->is_object()) {
            if (!stream_mode) {
                co_return co_await reply_json(
                    stream, req, http::status::bad_request,
                    bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                "stream_options"));
            }
            include_usage = opts.stream_usage && so->value("include_usage", false);
        }
        // logprobs (chat): {content: [one entry per token], refusal: null} on each choice.
        const bool want_logprobs = chat && body.value("logprobs", nlohmann::json{}) == true;
        int top_logprobs = 0;
        if (auto t = body.find("top_logprobs"); chat && t != body.end() && !t->is_null()) {
            if (!t->is_number_integer() || t->get<std::int64_t>() < 0 || t->get<std::int64_t>() > 20) {
                co_return co_await reply_json(
                    stream, req, http::status::bad_request,
                    bad_request("Invalid 'top_logprobs': integer below minimum value or above maximum value.",
                                "top_logprobs"));
            }
            if (!want_logprobs) {
                co_return co_await reply_json(
                    stream, req, http::status::bad_request,
                    bad_request("Invalid value for 'logprobs': must be true when 'top_logprobs' is set.", "logprobs"));
            }
            top_logprobs = static_cast<int>(t->get<std::int64_t>());
        }
        auto logprobs_of = [&](std::size_t first, std::size_t count, const std::vector<std::string>& toks) {
            ojson content = ojson::array();
            for (std::size_t k = first; k < first + count && k < toks.size(); ++k) {
                ojson entry = fake_logprob_entry(toks[k], k, top_logprobs, /*omit_empty_top=*/false);
                content.push_back(std::move(entry));
            }
            return ojson{{"content", std::move(content)}, {"refusal", nullptr}};
        };
        // n: that many choices (1..128, as OpenAI checks it); each streamed chunk carries one
        // choice with its index, the usage counts every choice's tokens.
        std::size_t choices = 1;
        if (auto c = body.find("n"); c != body.end() && !c->is_null()) {
            if (!c->is_number_integer() || c->get<std::int64_t>() < 1 || c->get<std::int64_t>() > 128) {
                co_return co_await reply_json(
                    stream, req, http::status::bad_request,
                    bad_request("Invalid 'n': integer below minimum value or above maximum value.", "n"));
            }
            choices = static_cast<std::size_t>(c->get<std::int64_t>());
        }
        int n = opts.tokens;
        std::string finish = "stop";
        for (const char* key : {"max_tokens", "max_completion_tokens"}) {
            if (auto mt = body.find(key); mt != body.end() && mt->is_number_integer() && mt->get<std::int64_t>() > 0 &&
                                          mt->get<std::int64_t>() < n) {
                n = static_cast<int>(mt->get<std::int64_t>());
                finish = "length";
            }
        }

        const std::string prompt = providers::prompt_text(greq);
        if (prompt.find(trigger_429) != std::string::npos) {
            ojson e = error_object(
                "Rate limit reached for fake-model in organization org-fake on requests per min (RPM): Limit 3, "
                "Used 3, Requested 1. Please try again in 1s.",
                "requests", "rate_limit_exceeded");
            co_return co_await reply_json(stream, req, http::status::too_many_requests, e, "1");
        }
        if (prompt.find(trigger_error_before) != std::string::npos) {
            ojson e = error_object("The server had an error while processing your request. Sorry about that!",
                                   "server_error", nullptr);
            co_return co_await reply_json(stream, req, http::status::internal_server_error, e);
        }
        const bool error_mid = prompt.find(trigger_error_mid) != std::string::npos;
        const bool close_mid = prompt.find(trigger_close_mid) != std::string::npos;
        const bool stall = prompt.find(trigger_stall) != std::string::npos;

        server.generation_started();
        if (auto calls = chat ? mock_tool_calls(body.value("tools", nlohmann::json{}),
                                                body.value("tool_choice", nlohmann::json{}), greq.messages, prompt)
                              : std::vector<mock_call>{};
            !calls.empty()) {
            co_return co_await answer_with_tool_calls(stream, req, calls, model, stream_mode, include_usage,
                                                      providers::mock_prompt_tokens(providers::all_input_text(greq)));
        }
        // Structured output (response_format json_object / json_schema): the answer is JSON.
        nlohmann::json format;
        if (auto rf = body.find("response_format"); rf != body.end() && rf->is_object()) {
            if (rf->value("type", nlohmann::json{}) == "json_object") {
                format = "json";
            } else if (rf->value("type", nlohmann::json{}) == "json_schema" && rf->contains("json_schema") &&
                       (*rf)["json_schema"].is_object()) {
                format = (*rf)["json_schema"].value("schema", nlohmann::json{});
            }
        }
        auto json_tokens = providers::mock_json_tokens(format, prompt, n);
        const auto tokens = json_tokens.empty() ? providers::mock_tokens(prompt, n) : std::move(json_tokens);
        // Choice k > 0 answers as if asked "<prompt> #k": another sample, as a real model's.
        std::vector<std::vector<std::string>> more_tokens;
        for (std::size_t k = 1; k < choices; ++k) {
            const std::string sample = prompt + " #" + std::to_string(k);
            auto more_json = providers::mock_json_tokens(format, sample, n);
            more_tokens.push_back(more_json.empty() ? providers::mock_tokens(sample, n) : std::move(more_json));
        }
        auto tokens_of = [&](std::size_t k) -> const std::vector<std::string>& {
            return k == 0 ? tokens : more_tokens[k - 1];
        };
        const std::int64_t prompt_tokens = providers::mock_prompt_tokens(providers::all_input_text(greq));
        std::int64_t completion_tokens = 0;
        for (std::size_t k = 0; k < choices; ++k) {
            completion_tokens += static_cast<std::int64_t>(tokens_of(k).size());
        }
        std::string id = chat ? std::string{"chatcmpl-fake"} : std::string{"cmpl-fake"};
        id += std::to_string(++ids);
        const std::int64_t created = unix_now();
        const char* object = chat ? "chat.completion.chunk" : "text_completion";
        const char* whole_object = chat ? "chat.completion" : "text_completion";
        ojson usage{{"prompt_tokens", prompt_tokens},
                    {"completion_tokens", completion_tokens},
                    {"total_tokens", prompt_tokens + completion_tokens}};

        net::steady_timer timer{stream.get_executor()};
        auto pause = [&]() -> net::awaitable<void> {
            if (opts.token_delay.count() > 0) {
                timer.expires_after(opts.token_delay);
                error_code ec;
                co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
            }
        };

        if (!stream_mode) {
            if (close_mid) {
                co_return after::close_by_server;
            }
            if (stall) {
                co_return co_await wait_for_disconnect(server, stream);
            }
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                co_await pause();
            }
            if (error_mid) {
                ojson e =
                    error_object("The server had an error while processing your request.", "server_error", nullptr);
                co_return co_await reply_json(stream, req, http::status::internal_server_error, e);
            }
            ojson all = ojson::array();
            for (std::size_t k = 0; k < choices; ++k) {
                const auto& toks = tokens_of(k);
                std::string text;
                for (const auto& t : toks) {
                    text += t;
                }
                ojson choice;
                if (chat) {
                    choice = ojson{{"index", k},
                                   {"message", ojson{{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                                   {"logprobs", want_logprobs ? logprobs_of(0, toks.size(), toks) : ojson(nullptr)},
                                   {"finish_reason", finish}};
                } else {
                    choice = ojson{{"text", text}, {"index", k}, {"logprobs", nullptr}, {"finish_reason", finish}};
                }
                all.push_back(std::move(choice));
            }
            ojson whole{{"id", id},       {"object", whole_object},          {"created", created},
                        {"model", model}, {"system_fingerprint", "fp_fake"}, {"choices", std::move(all)},
                        {"usage", usage}};
            co_return co_await reply_json(stream, req, http::status::ok, whole);
        }

        error_code ec = co_await start_event_stream(stream, req);
        if (ec) {
            co_return after::client_gone;
        }
        auto write_event = [&](std::string data) -> net::awaitable<bool> {
            std::string ev = "data: " + data + "\n\n";
            error_code wec;
            co_await net::async_write(stream, http::make_chunk(net::buffer(ev)),
                                      net::redirect_error(net::use_awaitable, wec));
            co_return !wec;
        };
        // One chunk: a choice with `text` (a delta object for chat), finish_reason null unless set.
        // (A pointer, not a json with a default: no temporaries with destructors in co_await.)
        auto chunk = [&](const ojson* delta, const std::string* text, const char* finish_reason,
                         const ojson* logprobs = nullptr, std::size_t index = 0) {
            ojson choice;
            if (chat) {
                choice =
                    ojson{{"index", index}, {"delta", *delta}, {"logprobs", logprobs ? *logprobs : ojson(nullptr)}};
            } else {
                choice = ojson{{"text", *text}, {"index", index}, {"logprobs", nullptr}};
            }
            choice["finish_reason"] = finish_reason == nullptr ? ojson(nullptr) : ojson(finish_reason);
            ojson c{{"id", id},
                    {"object", object},
                    {"created", created},
                    {"model", model},
                    {"system_fingerprint", "fp_fake"},
                    {"choices", ojson::array({std::move(choice)})}};
            if (include_usage) {
                c["usage"] = nullptr;
            }
            return c.dump();
        };

        if (chat) {
            ojson first{{"role", "assistant"}, {"content", ""}};
            for (std::size_t k = 0; k < choices; ++k) {
                std::string event = chunk(&first, nullptr, nullptr, nullptr, k);
                if (!co_await write_event(std::move(event))) {
                    co_return after::client_gone;
                }
            }
        }
        const int mid = std::min<int>(tokens_before_mid_failure, static_cast<int>(tokens.size()));
        for (int i = 0; i < static_cast<int>(tokens.size()); ++i) {
            if (error_mid && i == mid) {
                ojson e =
                    error_object("The server had an error while processing your request.", "server_error", nullptr);
                if (!co_await write_event(e.dump())) {
                    co_return after::client_gone;
                }
                co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(net::use_awaitable, ec));
                co_return ec ? after::client_gone : after::keep;
            }
            if (close_mid && i == mid) {
                co_return after::close_by_server;
            }
            if (stall && i == std::min<int>(1, static_cast<int>(tokens.size()))) {
                co_return co_await wait_for_disconnect(server, stream);
            }
            co_await pause();
            // The choices' i-th tokens, interleaved as OpenAI streams them.
            for (std::size_t k = 0; k < choices; ++k) {
                const auto& toks = tokens_of(k);
                if (static_cast<std::size_t>(i) >= toks.size()) {
                    continue;
                }
                const std::string& text = toks[static_cast<std::size_t>(i)];
                ojson delta{{"content", text}};
                const ojson lp = want_logprobs ? logprobs_of(static_cast<std::size_t>(i), 1, toks) : ojson(nullptr);
                std::string event = chunk(&delta, &text, nullptr, want_logprobs ? &lp : nullptr, k);
                if (!co_await write_event(std::move(event))) {
                    co_return after::client_gone;
                }
            }
        }
        // Choices longer than choice 0 (another sample may be): their remaining tokens.
        for (std::size_t k = 1; k < choices; ++k) {
            const auto& toks = tokens_of(k);
            for (std::size_t i = tokens.size(); i < toks.size(); ++i) {
                const std::string& text = toks[i];
                ojson delta{{"content", text}};
                const ojson lp = want_logprobs ? logprobs_of(i, 1, toks) : ojson(nullptr);
                std::string event = chunk(&delta, &text, nullptr, want_logprobs ? &lp : nullptr, k);
                if (!co_await write_event(std::move(event))) {
                    co_return after::client_gone;
                }
            }
        }
        const ojson empty_delta = ojson::object();
        const std::string empty_text;
        for (std::size_t k = 0; k < choices; ++k) {
            std::string event = chunk(&empty_delta, &empty_text, finish.c_str(), nullptr, k);
            if (!co_await write_event(std::move(event))) {
                co_return after::client_gone;
            }
        }
        if (include_usage) {
            ojson u{{"id", id},
                    {"object", object},
                    {"created", created},
                    {"model", model},
                    {"system_fingerprint", "fp_fake"},
                    {"choices", ojson::array()},
                    {"usage", usage}};
            if (!co_await write_event(u.dump())) {
                co_return after::client_gone;
            }
        }
        if (!co_await write_event("[DONE]")) {
            co_return after::client_gone;
        }
        co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(net::use_awaitable, ec));
        co_return ec ? after::client_gone : after::keep;
    }
};

fake_openai::fake_openai(fake_openai_options opts)
    : fake_http_server{"fake_openai", opts.host, opts.port}, impl_{std::make_unique<impl>(std::move(opts), *this)} {
    start(*impl_, impl_->opts.threads);
}

fake_openai::~fake_openai() {
    stop();
}  // before impl_ goes: the handler uses it

std::string fake_openai::url() const {
    return "http://" + impl_->opts.host + ":" + std::to_string(port()) + "/v1";
}

nlohmann::json fake_openai::last_request_body() const {
    std::lock_guard lock{impl_->mu};
    return impl_->last_request;
}

nlohmann::json fake_openai::last_request_headers() const {
    std::lock_guard lock{impl_->mu};
    return impl_->last_headers;
}

nlohmann::json fake_openai::stats() const {
    return impl_->stats();
}

}  // namespace llmp::providers::testing
