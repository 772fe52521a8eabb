#include "providers/testing/fake_ollama.hpp"

#include "providers/testing/fake_http_handler.hpp"

#include "common/asio_fwd.hpp"
#include "common/base64.hpp"
#include "common/messages.hpp"
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
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>

namespace llmp::providers::testing {
namespace {

using boost::system::error_code;
using ojson = nlohmann::ordered_json;
using steady_clock = std::chrono::steady_clock;

constexpr std::string_view trigger_error_mid = "[[error-mid]]";
constexpr std::string_view trigger_close_mid = "[[close-mid]]";
constexpr std::string_view trigger_error_before = "[[error-before]]";
constexpr std::string_view trigger_stall = "[[stall]]";
constexpr std::string_view trigger_stall_before = "[[stall-before]]";
constexpr int tokens_before_mid_failure = 3;
constexpr std::string_view text_plain = "text/plain; charset=utf-8";
constexpr std::string_view ndjson = "application/x-ndjson";

/// Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed (none if 0).
std::string rfc3339_nano_now() {
    auto now = std::chrono::system_clock::now();
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
    long frac = static_cast<long>(ns % 1'000'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::size_t len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out{buf, len};
    if (frac != 0) {
        char f[16];
        std::snprintf(f, sizeof f, ".%09ld", frac);
        std::string fs{f};
        while (fs.back() == '0') {
            fs.pop_back();
        }
        out += fs;
    }
    out += 'Z';
    return out;
}

std::int64_t ns_since(steady_clock::time_point t0) {
    auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now() - t0).count();
    return std::max<std::int64_t>(d, 1);
}

}  // namespace

struct fake_ollama::impl final : fake_http_handler {
    impl(fake_ollama_options o, fake_http_server& srv) : opts{std::move(o)}, server{srv} { set_models(opts.models); }

    fake_ollama_options opts;  // models: see `models` below
    fake_http_server& server;  // the fake_ollama itself

    mutable std::mutex mu;
    nlohmann::json last_request;          // GUARDED_BY(mu)
    nlohmann::json last_final;            // GUARDED_BY(mu)
    std::vector<std::string> models;      // GUARDED_BY(mu): as configured or last set
    std::vector<std::string> normalized;  // GUARDED_BY(mu)

    void set_models(std::vector<std::string> list) {
        std::vector<std::string> n;
        for (const auto& m : list) {
            n.push_back(normalize_model_name(m));
        }
        std::lock_guard lock{mu};
        models = std::move(list);
        normalized = std::move(n);
    }

    std::vector<std::string> current_models() const {
        std::lock_guard lock{mu};
        return models;
    }

    /// PUT /_fake/models (outside the coroutine: GCC 12 miscompiles some temporaries in one).
    std::pair<http::status, ojson> put_models(const std::string& body) {
        auto list = models_of(body);
        if (!list) {
            return {http::status::bad_request, ojson{{"error", "expected {\"models\": [\"name\", ...]}"}}};
        }
        set_models(std::move(*list));
        return {http::status::ok, ojson{{"models", current_models()}}};
    }

    bool known_model(std::string_view name) const {
        auto n = normalize_model_name(name);
        std::lock_guard lock{mu};
        return std::find(normalized.begin(), normalized.end(), n) != normalized.end();
    }

    // -----------------------------------------------------------------------------------------

    template <class Body>
    static void common_headers(http::response<Body>& res) {
        res.set(http::field::date, date_header());
    }

    static std::string date_header() {
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[64];
        std::size_t len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return std::string{buf, len};
    }

    net::awaitable<after> reply(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                http::status status, std::string_view content_type, std::string body) {
        http::response<http::string_body> res{status, req.version()};
        common_headers(res);
        res.set(http::field::content_type, content_type);
        res.keep_alive(req.keep_alive());
        if (req.method() != http::verb::head) {
            res.body() = std::move(body);
            res.prepare_payload();
        } else {
            res.content_length(body.size());
        }
        error_code ec;
        co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
        co_return ec ? after::client_gone : after::keep;
    }

    net::awaitable<after> reply_json(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                     http::status status, const ojson& j) {
        return reply(stream, req, status, "application/json; charset=utf-8", j.dump());
    }

    net::awaitable<after> reply_error(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                      http::status status, std::string message) {
        return reply_json(stream, req, status, ojson{{"error", std::move(message)}});
    }

    ojson tags() const {
        ojson list = ojson::array();
        std::uint64_t i = 0;
        for (const auto& name : current_models()) {  // as configured: Ollama itself always says name:tag
            ++i;
            auto family = name.substr(0, name.find_first_of(":0123456789."));
            if (family.empty()) {
                family = "llama";
            }
            char digest[65];
            std::snprintf(digest, sizeof digest, "%016llx%016llx%016llx%016llx",
                          static_cast<unsigned long long>(std::hash<std::string>{}(name)),
                          static_cast<unsigned long long>(i), 0xfeedULL, 0xbeefULL);
            list.push_back(ojson{{"name", name},
                                 {"model", name},
                                 {"modified_at", "2025-01-15T10:20:30.123456789Z"},
                                 {"size", 1000000000ULL + i * 12345},
                                 {"digest", digest},
                                 {"details", ojson{{"parent_model", ""},
                                                   {"format", "gguf"},
                                                   {"family", family},
                                                   {"families", ojson::array({family})},
                                                   {"parameter_size", "1.2B"},
                                                   {"quantization_level", "Q4_K_M"}}}});
        }
        return ojson{{"models", std::move(list)}};
    }

    net::awaitable<after> handle(beast::tcp_stream& stream, const fake_request& req) override {
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        auto method = req.method();
        if (target == "/" && (method == http::verb::get || method == http::verb::head)) {
            co_return co_await reply(stream, req, http::status::ok, text_plain, std::string{"Ollama is running"});
        }
        if (target == "/api/version" && method == http::verb::get) {
            ojson version{{"version", opts.version}};
            co_return co_await reply_json(stream, req, http::status::ok, version);
        }
        if (target == "/api/tags" && method == http::verb::get) {
            co_return co_await reply_json(stream, req, http::status::ok, tags());
        }
        if (target == "/_fake/stats" && method == http::verb::get) {
            co_return co_await reply(stream, req, http::status::ok, "application/json; charset=utf-8",
                                     server.stats().dump());
        }
        if (target == "/_fake/models" && method == http::verb::put) {
            auto put = put_models(req.body());
            co_return co_await reply_json(stream, req, put.first, put.second);
        }
        if (target == "/api/ps" && method == http::verb::get) {
            ojson none{{"models", ojson::array()}};
            co_return co_await reply_json(stream, req, http::status::ok, none);
        }
        if ((target == "/api/embed" || target == "/api/embeddings") && method == http::verb::post) {
            co_return co_await embed(stream, req, target == "/api/embeddings");
        }
        if ((target == "/api/chat" || target == "/api/generate") && method == http::verb::post) {
            co_return co_await generation(stream, req, target == "/api/chat");
        }
        co_return co_await reply(stream, req, http::status::not_found, text_plain, std::string{"404 page not found"});
    }

    /// POST /api/embed ({model, input: string | [string], truncate, dimensions, options}) ->
    /// {model, embeddings, total_duration, load_duration, prompt_eval_count}; the legacy POST
    /// /api/embeddings ({model, prompt}) -> {embedding}. Vectors: providers::mock_embedding.
    net::awaitable<after> embed(beast::tcp_stream& stream, const http::request<http::string_body>& req, bool legacy) {
        const auto t0 = steady_clock::now();
        auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded() || !body.is_object()) {
            co_return co_await reply_error(stream, req, http::status::bad_request,
                                           std::string{"invalid character in request body: not valid JSON"});
        }
        {
            std::lock_guard lock{mu};
            last_request = body;
        }
        auto model_it = body.find("model");
        std::string model = model_it != body.end() && model_it->is_string() ? model_it->get<std::string>() : "";
        if (model.empty()) {
            co_return co_await reply_error(stream, req, http::status::bad_request, std::string{"model is required"});
        }
        if (!known_model(model)) {
            co_return co_await reply_error(stream, req, http::status::not_found, "model '" + model + "' not found");
        }
        std::vector<std::string> texts;
        const auto input = body.value(legacy ? "prompt" : "input", nlohmann::json{});
        if (input.is_string()) {
            texts.push_back(input.get<std::string>());
        } else if (input.is_array() && !legacy) {
            for (const auto& t : input) {
                if (!t.is_string()) {
                    co_return co_await reply_error(stream, req, http::status::bad_request,
                                                   std::string{"invalid input type"});
                }
                texts.push_back(t.get<std::string>());
            }
        } else if (!input.is_null()) {
            co_return co_await reply_error(stream, req, http::status::bad_request, std::string{"invalid input type"});
        }
        std::size_t dims = 0;
        if (auto d = body.find("dimensions"); d != body.end() && d->is_number_unsigned()) {
            dims = std::min<std::size_t>(d->get<std::size_t>(), 4096);
        }
        server.texts_embedded(texts.size());
        if (legacy) {
            ojson j{{"embedding", ojson::parse(providers::mock_embedding(texts.empty() ? "" : texts[0], dims).dump())}};
            co_return co_await reply_json(stream, req, http::status::ok, j);
        }
        ojson vectors = ojson::array();
        std::int64_t tokens = 0;
        for (const auto& t : texts) {
            vectors.push_back(ojson::parse(providers::mock_embedding(t, dims).dump()));
            tokens += providers::mock_prompt_tokens(t);
        }
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now() - t0).count();
        ojson j{{"model", model},
                {"embeddings", std::move(vectors)},
                {"total_duration", ns},
                {"load_duration", 1000},
                {"prompt_eval_count", tokens}};
        co_return co_await reply_json(stream, req, http::status::ok, j);
    }

    /// Ollama decodes each image ([]byte in Go: base64 in JSON) before anything else; a data:
    /// URL or a URL is a 400. "" when every image is base64; counted by the server.
    std::string image_problem(const nlohmann::json& body, bool chat) {
        std::vector<const nlohmann::json*> lists;
        if (auto messages = body.find("messages"); chat && messages != body.end() && messages->is_array()) {
            for (const auto& m : *messages) {
                if (m.is_object() && m.contains("images")) {
                    lists.push_back(&m["images"]);
                }
            }
        } else if (!chat && body.contains("images")) {
            lists.push_back(&body["images"]);
        }
        std::vector<std::uint64_t> sizes;
        for (const auto* list : lists) {
            if (list->is_null()) {
                continue;
            }
            if (!list->is_array()) {
                return "json: cannot unmarshal into Go struct field of type []api.ImageData";
            }
            for (const auto& img : *list) {
                auto bytes = img.is_string() ? base64_decode(img.get_ref<const std::string&>()) : std::nullopt;
                if (!bytes) {
                    return "illegal base64 data at input byte 4";
                }
                sizes.push_back(bytes->size());
            }
        }
        for (auto n : sizes) {
            server.image_received(n);
        }
        return {};
    }

    /// Tool calls in Ollama's shape: {"id", "function": {"index", "name", "arguments": {...}}}.
    static ojson ollama_calls(const std::vector<mock_call>& calls) {
        ojson list = ojson::array();
        int index = 0;
        for (const auto& c : calls) {
            list.push_back(
                ojson{{"id", c.id},
                      {"function",
                       ojson{{"index", index++}, {"name", c.name}, {"arguments", ojson::parse(c.arguments.dump())}}}});
        }
        return list;
    }

    net::awaitable<after> generation(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                     bool chat) {
        const auto t0 = steady_clock::now();
        if (req.body().empty()) {
            co_return co_await reply_error(stream, req, http::status::bad_request, std::string{"missing request body"});
        }
        auto body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded() || !body.is_object()) {
            co_return co_await reply_error(stream, req, http::status::bad_request,
                                           body.is_discarded()
                                               ? "invalid character in request body: not valid JSON"
                                               : "json: cannot unmarshal into Go value of type api.Request");
        }
        {
            std::lock_guard lock{mu};
            last_request = body;
        }
        auto model_it = body.find("model");
        std::string model = model_it != body.end() && model_it->is_string() ? model_it->get<std::string>() : "";
        if (model.empty()) {
            co_return co_await reply_error(stream, req, http::status::bad_request, std::string{"model is required"});
        }
        if (!known_model(model)) {
            co_return co_await reply_error(stream, req, http::status::not_found, "model '" + model + "' not found");
        }
        if (auto bad = image_problem(body, chat); !bad.empty()) {
            co_return co_await reply_error(stream, req, http::status::bad_request, bad);
        }

        providers::generation_request greq;
        greq.kind = chat ? request_kind::chat : request_kind::generate;
        greq.model = model;
        if (auto m = body.find("messages"); chat && m != body.end() && m->is_array()) {
            greq.messages = *m;
        }
        if (auto p = body.find("prompt"); !chat && p != body.end() && p->is_string()) {
            greq.prompt = p->get<std::string>();
        }
        if (auto s = body.find("system"); s != body.end() && s->is_string()) {
            greq.extra["system"] = *s;
        }
        nlohmann::json options = body.value("options", nlohmann::json::object());
        if (!options.is_object()) {
            options = nlohmann::json::object();
        }
        bool stream_mode = true;
        if (auto s = body.find("stream"); s != body.end() && s->is_boolean()) {
            stream_mode = s->get<bool>();
        }
        bool raw = false;
        if (auto r = body.find("raw"); r != body.end() && r->is_boolean()) {
            raw = r->get<bool>();
        }

        const auto ts = rfc3339_nano_now;
        auto piece = [&](std::string_view text) {
            ojson j{{"model", model}, {"created_at", ts()}};
            if (chat) {
                j["message"] = ojson{{"role", "assistant"}, {"content", text}};
            } else {
                j["response"] = text;
            }
            j["done"] = false;
            return j;
        };

        // An empty conversation or prompt only loads the model.
        if ((chat && greq.messages.empty()) || (!chat && greq.prompt.empty())) {
            ojson j = piece("");
            j["done"] = true;
            j["done_reason"] = "load";
            if (!stream_mode) {
                co_return co_await reply_json(stream, req, http::status::ok, j);
            }
            co_return co_await reply(stream, req, http::status::ok, ndjson, j.dump() + '\n');
        }

        const std::string prompt = providers::prompt_text(greq);
        int n = opts.tokens;
        if (auto np = options.find("num_predict");
            np != options.end() && np->is_number_integer() && np->get<std::int64_t>() > 0) {
            n = static_cast<int>(std::min<std::int64_t>(np->get<std::int64_t>(), 1'000'000));
        }
        auto delay = std::chrono::duration_cast<std::chrono::microseconds>(opts.token_delay);
        if (auto d = options.find("mock_token_delay_ms"); d != options.end() && d->is_number()) {
            delay = std::chrono::microseconds{static_cast<std::int64_t>(d->get<double>() * 1000.0)};
        }
        const bool error_before = prompt.find(trigger_error_before) != std::string::npos;
        const bool error_mid = prompt.find(trigger_error_mid) != std::string::npos;
        const bool close_mid = prompt.find(trigger_close_mid) != std::string::npos;
        const bool stall = prompt.find(trigger_stall) != std::string::npos;
        // Like a model that is still loading: no header, no token, until the client goes away.
        const bool stall_before = prompt.find(trigger_stall_before) != std::string::npos;

        if (error_before) {
            co_return co_await reply_error(stream, req, http::status::internal_server_error,
                                           "llama runner process has terminated: signal: killed");
        }

        server.generation_started();
        // Structured output (`format`): the answer is JSON (mock_tool_calls.hpp).
        auto json_tokens = providers::mock_json_tokens(body.value("format", nlohmann::json{}), prompt, n);
        const auto tokens = json_tokens.empty() ? providers::mock_tokens(prompt, n) : std::move(json_tokens);
        const std::int64_t prompt_eval_count = providers::mock_prompt_tokens(providers::all_input_text(greq));
        const std::string mid_error = "an error was encountered while running the model: unexpected EOF";
        // logprobs: true (top_logprobs: k): a top-level "logprobs" list of the tokens of each
        // line (fake_logprobs.hpp), all of them on the object of a reply that is not streamed.
        const bool want_logprobs = body.value("logprobs", nlohmann::json{}) == true;
        const int top_logprobs = static_cast<int>(std::clamp<std::int64_t>(
            body.value("top_logprobs", nlohmann::json{}).is_number_integer() ? body["top_logprobs"].get<std::int64_t>()
                                                                             : 0,
            0, 20));
        auto logprobs_of = [&](std::size_t first, std::size_t count) {
            ojson list = ojson::array();
            for (std::size_t k = first; k < first + count && k < tokens.size(); ++k) {
                ojson entry = fake_logprob_entry(tokens[k], k, top_logprobs, /*omit_empty_top=*/true);
                list.push_back(std::move(entry));
            }
            return list;
        };
        const std::int64_t load_ns = ns_since(t0);

        auto final_object = [&](std::int64_t eval_count, std::int64_t eval_ns, std::string text) {
            ojson j = piece(text);
            j["done"] = true;
            j["done_reason"] = "stop";
            if (!chat && !raw) {
                ojson context = ojson::array();
                for (std::int64_t i = 0; i < prompt_eval_count + eval_count; ++i) {
                    context.push_back(1000 + i);
                }
                j["context"] = std::move(context);
            }
            j["total_duration"] = ns_since(t0);
            j["load_duration"] = load_ns;
            j["prompt_eval_count"] = prompt_eval_count;
            j["prompt_eval_duration"] = prompt_eval_count * 1000;
            j["eval_count"] = eval_count;
            j["eval_duration"] = eval_ns;
            {
                std::lock_guard lock{mu};
                last_final = nlohmann::json::parse(j.dump());
            }
            return j;
        };

        net::steady_timer timer{stream.get_executor()};
        auto pause = [&](std::chrono::microseconds d) -> net::awaitable<void> {
            if (d.count() > 0) {
                timer.expires_after(d);
                error_code ec;
                co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
            }
        };

        if (stall_before) {
            co_return co_await wait_for_disconnect(server, stream);
        }
        // Tool calls as Ollama answers them: streamed, a done:false line whose message holds the
        // calls and content "", then the done line ("stop"); not streamed, the calls in the done
        // object's message.
        const ojson calls =
            ollama_calls(chat ? mock_tool_calls(body.value("tools", nlohmann::json{}),
                                                body.value("tool_choice", nlohmann::json{}), greq.messages, prompt)
                              : std::vector<mock_call>{});
        const auto calls_eval_count = static_cast<std::int64_t>(calls.dump().size() / 4);
        if (!calls.empty() && !stream_mode) {
            auto j = final_object(calls_eval_count, 1000, "");
            j["message"]["tool_calls"] = calls;
            co_return co_await reply_json(stream, req, http::status::ok, j);
        }
        if (!stream_mode) {
            if (close_mid) {
                co_return after::close_by_server;
            }
            if (stall) {
                co_return co_await wait_for_disconnect(server, stream);
            }
            co_await pause(delay * static_cast<int>(tokens.size()));
            if (error_mid) {
                co_return co_await reply_error(stream, req, http::status::internal_server_error, mid_error);
            }
            std::string text;
            for (const auto& t : tokens) {
                text += t;
            }
            const auto eval_start = steady_clock::now();
            auto j = final_object(static_cast<std::int64_t>(tokens.size()), ns_since(eval_start), text);
            if (want_logprobs) {
                j["logprobs"] = logprobs_of(0, tokens.size());
            }
            co_return co_await reply_json(stream, req, http::status::ok, j);
        }

        http::response<http::empty_body> res{http::status::ok, req.version()};
        common_headers(res);
        res.set(http::field::content_type, "application/x-ndjson");
        res.keep_alive(req.keep_alive());
        res.chunked(true);
        http::response_serializer<http::empty_body> sr{res};
        error_code ec;
        co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
        if (ec) {
            co_return after::client_gone;
        }
        auto write_line = [&](const ojson& j) -> net::awaitable<bool> {
            std::string line = j.dump();
            line += '\n';
            error_code wec;
            co_await net::async_write(stream, http::make_chunk(net::buffer(line)),
                                      net::redirect_error(net::use_awaitable, wec));
            co_return !wec;
        };

        if (!calls.empty()) {
            ojson line = piece("");
            line["message"]["tool_calls"] = calls;
            const ojson last = final_object(calls_eval_count, 1000, "");
            if (!co_await write_line(line)) {
                co_return after::client_gone;
            }
            if (!co_await write_line(last)) {
                co_return after::client_gone;
            }
            co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(net::use_awaitable, ec));
            co_return ec ? after::client_gone : after::keep;
        }
        const auto eval_start = steady_clock::now();
        const int mid = std::min<int>(tokens_before_mid_failure, static_cast<int>(tokens.size()));
        for (int i = 0; i <= static_cast<int>(tokens.size()); ++i) {
            if (error_mid && i == mid) {
                ojson error_line{{"error", mid_error}};
                if (!co_await write_line(error_line)) {
                    co_return after::client_gone;
                }
                break;
            }
            if (close_mid && i == mid) {
                co_return after::close_by_server;
            }
            if (stall && i == std::min<int>(1, static_cast<int>(tokens.size()))) {
                co_return co_await wait_for_disconnect(server, stream);
            }
            if (i == static_cast<int>(tokens.size())) {
                auto j = final_object(static_cast<std::int64_t>(tokens.size()), ns_since(eval_start), "");
                if (!co_await write_line(j)) {
                    co_return after::client_gone;
                }
                break;
            }
            co_await pause(delay);
            ojson line = piece(tokens[static_cast<std::size_t>(i)]);
            if (want_logprobs) {
                line["logprobs"] = logprobs_of(static_cast<std::size_t>(i), 1);
            }
            if (!co_await write_line(line)) {
                co_return after::client_gone;
            }
        }
        co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(net::use_awaitable, ec));
        co_return ec ? after::client_gone : after::keep;
    }
};

fake_ollama::fake_ollama(fake_ollama_options opts)
    : fake_http_server{"fake_ollama", opts.host, opts.port}, impl_{std::make_unique<impl>(std::move(opts), *this)} {
    start(*impl_, impl_->opts.threads);
}

fake_ollama::~fake_ollama() {
    stop();
}  // before impl_ goes: the handler uses it

std::string fake_ollama::url() const {
    return "http://" + impl_->opts.host + ":" + std::to_string(port());
}

nlohmann::json fake_ollama::last_request_body() const {
    std::lock_guard lock{impl_->mu};
    return impl_->last_request;
}

nlohmann::json fake_ollama::last_final() const {
    std::lock_guard lock{impl_->mu};
    return impl_->last_final;
}

}  // namespace llmp::providers::testing
