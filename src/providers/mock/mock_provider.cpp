#include "providers/mock/mock_provider.hpp"

#include "providers/mock/mock_text.hpp"
#include "providers/request_text.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <charconv>

namespace llmp::providers {
namespace {

constexpr std::string_view fail_marker = "[[mock:fail]]";
constexpr std::string_view fail_after_marker = "[[mock:fail-after=";

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

template <class T>
T option_or(const nlohmann::json& options, const char* key, T fallback) {
    auto it = options.find(key);
    if (it == options.end() || !it->is_number()) {
        return fallback;
    }
    return it->get<T>();
}

class mock_generation : public generation, public std::enable_shared_from_this<mock_generation> {
public:
    mock_generation(net::any_io_executor ex, std::vector<std::string> tokens,
                    std::chrono::microseconds delay, int fail_after, std::int64_t prompt_tokens,
                    generation_callbacks cb)
        : strand_{net::make_strand(ex)},
          timer_{strand_},
          tokens_{std::move(tokens)},
          delay_{delay},
          fail_after_{fail_after},
          prompt_tokens_{prompt_tokens},
          cb_{std::move(cb)} {}

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

    void step() {
        if (done_) {
            return;
        }
        if (fail_after_ >= 0 && sent_ == static_cast<std::size_t>(fail_after_)) {
            finish_error({"provider_error",
                          "mock provider failure requested by the prompt ([[mock:fail]] markers)",
                          false});
            return;
        }
        if (sent_ == tokens_.size()) {
            completion c;
            c.done_reason = "stop";
            c.prompt_tokens = prompt_tokens_;
            c.completion_tokens = static_cast<std::int64_t>(tokens_.size());
            done_ = true;
            cb_.on_complete(std::move(c));
            return;
        }
        cb_.on_token(tokens_[sent_++]);
        schedule();
    }

    void finish_error(error e) {
        done_ = true;
        cb_.on_error(std::move(e));
    }

    net::strand<net::any_io_executor> strand_;
    net::steady_timer timer_;
    std::vector<std::string> tokens_;
    std::chrono::microseconds delay_;
    int fail_after_;
    std::int64_t prompt_tokens_;
    generation_callbacks cb_;
    std::size_t sent_ = 0;
    bool done_ = false;
    steady_clock::time_point next_at_;
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

    std::shared_ptr<generation> chat(const generation_request& req, generation_callbacks cb) override {
        return start(req, std::move(cb));
    }

    std::shared_ptr<generation> generate(const generation_request& req,
                                         generation_callbacks cb) override {
        return start(req, std::move(cb));
    }

private:
    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) {
        std::string prompt = prompt_text(req);
        int n = option_or<int>(req.options, "num_predict", cfg_.tokens);
        if (n <= 0) {
            n = cfg_.tokens;
        }
        auto delay = cfg_.token_delay;
        if (req.options.contains("mock_token_delay_ms")) {
            delay = std::chrono::microseconds{static_cast<std::int64_t>(
                option_or<double>(req.options, "mock_token_delay_ms", 0) * 1000.0)};
        }
        auto g = std::make_shared<mock_generation>(ex_, mock_tokens(prompt, n), delay,
                                                   requested_failure(all_input_text(req)),
                                                   mock_prompt_tokens(all_input_text(req)),
                                                   std::move(cb));
        g->start();
        return g;
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
