#include "providers/mock/mock_provider.hpp"

#include "providers/choice_fanout.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/mock/mock_text.hpp"
#include "providers/mock/mock_tool_calls.hpp"
#include "providers/request_text.hpp"
#include "providers/upstream_policy.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>

namespace llmp::providers {
namespace {

constexpr std::string_view fail_marker = "[[mock:fail]]";
constexpr std::string_view fail_after_marker = "[[mock:fail-after=";
// Test triggers (mock_config::test_triggers only): a poison message, and an exception.
constexpr std::string_view abort_marker = "[[mock:abort]]";
constexpr std::string_view throw_marker = "[[mock:throw]]";
constexpr std::string_view throw_mid_marker = "[[mock:throw-mid]]";
/// options.mock_token_delay_ms is clamped to this: a client's 1e300 must not become a
/// timer overflow (or a generation that holds a slot for years).
constexpr double max_token_delay_ms = 60'000;

/// -1: no failure requested; otherwise the number of tokens to send before failing.
int requested_failure(std::string_view prompt) {
    if (prompt.find(fail_marker) != std::string_view::npos) {
        return 0;
    }
    auto pos = prompt.find(fail_after_marker);
    if (pos == std::string_view::npos) {
        return -1;
    }
    auto digits = prompt.substr(pos + fail_after_marker.size());
    int n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    return ec == std::errc{} ? n : 0;
}

class mock_generation : public generation, public std::enable_shared_from_this<mock_generation> {
public:
    mock_generation(net::any_io_executor ex, mock_token_stream tokens, bool capped, std::chrono::microseconds delay,
                    int fail_after, bool throw_mid, std::int64_t prompt_tokens, generation_callbacks cb)
        : strand_{net::make_strand(ex)},
          timer_{strand_},
          tokens_{std::move(tokens)},
          capped_{capped},
          delay_{delay},
          fail_after_{fail_after},
          throw_mid_{throw_mid},
          prompt_tokens_{prompt_tokens},
          cb_{std::move(cb)} {}

    /// Answer with these calls (contract shape) instead of text.
    void set_tool_calls(nlohmann::json calls) { tool_calls_ = std::move(calls); }

    void start() {
        next_at_ = steady_clock::now();
        net::post(strand_, [self = shared_from_this()] { self->schedule(); });
    }

    void cancel() override {
        net::post(strand_, [self = shared_from_this()] {
            if (!self->done_) {
                self->timer_.cancel();
                self->finish_error({"cancelled", "generation cancelled", false});
            }
        });
    }

private:
    using steady_clock = std::chrono::steady_clock;

    void schedule() {
        if (done_) {
            return;
        }
        if (delay_.count() == 0) {
            // Yield between tokens so one fast stream cannot starve the others.
            net::post(strand_, [self = shared_from_this()] { self->step(); });
            return;
        }
        // Absolute deadlines: the token rate does not drift with scheduling delays.
        next_at_ += delay_;
        timer_.expires_at(next_at_);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->step();
            }
        });
    }

    /// A handler on the io_context: nothing may escape it (it would end the worker's
    /// io_context thread), so an exception ends this generation with internal_error.
    void step() {
        try {
            step_unguarded();
        } catch (const std::exception& e) {
            if (!done_) {
                finish_error({"internal_error", std::string{"mock provider failure: "} + e.what(), false});
            }
        }
    }

    void step_unguarded() {
        if (done_) {
            return;
        }
        if (throw_mid_ && sent_ == 1) {
            throw std::bad_alloc{};
        }
        if (fail_after_ >= 0 && sent_ == static_cast<std::size_t>(fail_after_)) {
            finish_error(
                {"provider_error", "mock provider failure requested by the prompt ([[mock:fail]] markers)", false});
            return;
        }
        if (tokens_.done()) {
            completion c;
            c.done_reason = capped_ ? "length" : "stop";
            c.prompt_tokens = prompt_tokens_;
            c.completion_tokens = tokens_.size();
            if (!tool_calls_.empty()) {
                c.completion_tokens = static_cast<std::int64_t>(tool_calls_.dump().size() / 4);
                c.done_reason = "tool_calls";
                c.tool_calls = std::move(tool_calls_);
            }
            done_ = true;
            cb_.on_complete(std::move(c));
            return;
        }
        ++sent_;
        cb_.on_token(tokens_.next());
        schedule();
    }

    void finish_error(error e) {
        done_ = true;
        cb_.on_error(std::move(e));
    }

    net::strand<net::any_io_executor> strand_;
    net::steady_timer timer_;
    mock_token_stream tokens_;
    bool capped_;  ///< the operator's cap cut the answer: done_reason "length"
    std::chrono::microseconds delay_;
    int fail_after_;
    bool throw_mid_;
    std::int64_t prompt_tokens_;
    generation_callbacks cb_;
    std::size_t sent_ = 0;
    bool done_ = false;
    steady_clock::time_point next_at_;
    nlohmann::json tool_calls_ = nlohmann::json::array();
};

/// An embedding: computed at once, its one callback already posted; nothing to cancel.
class answered_at_once final : public generation {
public:
    void cancel() override {}
};

class mock_provider final : public provider {
public:
    mock_provider(const mock_config& cfg, net::any_io_executor ex) : cfg_{cfg}, ex_{std::move(ex)} {
        for (const auto& m : cfg_.models) {
            models_.push_back(normalize_model_name(m));
        }
    }

    std::string_view name() const override { return "mock"; }

    net::awaitable<result<void>> init() override { co_return ok(); }

    net::awaitable<result<std::vector<std::string>>> models() override { co_return models_; }

    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) override {
        if (req.kind == request_kind::embed) {
            return embed(req, std::move(cb));
        }
        if (choices_wanted(req) > 1) {
            // One answer per generation, as Ollama: n of them, merged (providers/choice_fanout.hpp).
            return start_choice_fanout(ex_, req, std::move(cb),
                                       [this](const generation_request& one, generation_callbacks one_cb) {
                                           return start(one, std::move(one_cb));
                                       });
        }
        std::string prompt = prompt_text(req);
        const std::string input = all_input_text(req);
        bool throw_mid = false;
        if (cfg_.test_triggers) {
            if (input.find(abort_marker) != std::string::npos) {
                std::abort();  // a poison message: what no catch can stop (tests only)
            }
            if (input.find(throw_marker) != std::string::npos) {
                throw std::bad_alloc{};
            }
            throw_mid = input.find(throw_mid_marker) != std::string::npos;
        }
        // The answer's length: options.num_predict within the operator's cap, else --mock-tokens.
        auto limit = token_limit_for(req, cfg_.tokens);
        auto delay = cfg_.token_delay;
        if (auto d = req.options.find("mock_token_delay_ms"); d != req.options.end() && d->is_number()) {
            double ms = std::clamp(d->get<double>(), 0.0, max_token_delay_ms);
            delay = std::chrono::microseconds{static_cast<std::int64_t>(ms * 1000.0)};
        }
        // A chat with tools is answered with calls (mock_tool_calls.hpp), as the fakes do.
        nlohmann::json calls = nlohmann::json::array();
        if (req.kind == request_kind::chat && req.extra.is_object()) {
            for (auto& c : mock_tool_calls(req.extra.value("tools", nlohmann::json{}),
                                           req.extra.value("tool_choice", nlohmann::json{}), req.messages, prompt)) {
                calls.push_back({{"id", std::move(c.id)},
                                 {"type", "function"},
                                 {"function", {{"name", std::move(c.name)}, {"arguments", c.arguments.dump()}}}});
            }
        }
        const std::int64_t n = calls.empty() ? limit.n : 0;
        auto g = std::make_shared<mock_generation>(ex_, mock_token_stream{prompt, n}, limit.capped && n > 0, delay,
                                                   requested_failure(input), throw_mid, mock_prompt_tokens(input),
                                                   std::move(cb));
        g->set_tool_calls(std::move(calls));
        g->start();
        return g;
    }

private:
    /// mock_embedding per input (providers/embedding_exchange.hpp), at once; a [[mock:fail]]
    /// marker in any input fails it as a chat would.
    std::shared_ptr<generation> embed(const generation_request& req, generation_callbacks cb) {
        std::size_t dims = 0;
        if (auto d = req.extra.find("dimensions"); d != req.extra.end() && d->is_number_unsigned()) {
            dims = std::min<std::size_t>(d->get<std::size_t>(), 4096);
        }
        completion c;
        std::optional<error> failure;
        for (const auto& text : req.input) {
            const auto& s = text.is_string() ? text.get_ref<const std::string&>() : std::string{};
            if (requested_failure(s) >= 0) {
                failure =
                    error{"provider_error", "mock provider failure requested by the input ([[mock:fail]])", false};
            }
            c.embeddings.push_back(mock_embedding(s, dims));
            c.prompt_tokens += mock_prompt_tokens(s);
        }
        net::post(net::make_strand(ex_),
                  [cb = std::move(cb), c = std::move(c), failure = std::move(failure)]() mutable {
                      if (failure) {
                          cb.on_error(std::move(*failure));
                      } else {
                          cb.on_complete(std::move(c));
                      }
                  });
        return std::make_shared<answered_at_once>();
    }

    mock_config cfg_;
    net::any_io_executor ex_;
    std::vector<std::string> models_;
};

}  // namespace

std::unique_ptr<provider> make_mock_provider(const mock_config& cfg, net::any_io_executor ex) {
    return std::make_unique<mock_provider>(cfg, std::move(ex));
}

}  // namespace llmp::providers
