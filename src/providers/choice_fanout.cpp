#include "providers/choice_fanout.hpp"

#include "common/mutex.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <optional>
#include <string>
#include <vector>

namespace llmp::providers {
namespace {

class fanout_generation final : public generation, public std::enable_shared_from_this<fanout_generation> {
public:
    fanout_generation(const net::any_io_executor& ex, int n, generation_callbacks cb)
        : strand_{net::make_strand(ex)}, cb_{std::move(cb)}, done_(static_cast<std::size_t>(n)) {}

    void start(const generation_request& req, const start_one_fn& start_one) {
        generation_request one = req;
        one.extra.erase("n");
        auto self = shared_from_this();
        const auto seed = one.options.is_object() ? one.options.find("seed") : one.options.end();
        const bool seeded = seed != one.options.end() && seed->is_number_integer();
        const std::int64_t first_seed = seeded ? seed->get<std::int64_t>() : 0;
        for (std::size_t i = 0; i < done_.size(); ++i) {
            if (seeded && i > 0) {
                // A seed makes a sample repeatable: the same one n times would be one choice.
                one.options["seed"] = first_seed + static_cast<std::int64_t>(i);
            }
            generation_callbacks inner;
            inner.on_token = [self, i](std::string_view delta) {
                net::post(self->strand_, [self, i, text = std::string{delta}] { self->on_token(i, text); });
            };
            inner.on_complete = [self, i](completion c) {
                net::post(self->strand_, [self, i, c = std::move(c)]() mutable { self->on_complete(i, std::move(c)); });
            };
            inner.on_error = [self](error e) {
                net::post(self->strand_, [self, e = std::move(e)]() mutable { self->on_error(std::move(e)); });
            };
            auto g = start_one(one, std::move(inner));
            bool cancel_now = false;
            {
                llmp::lock_guard lock{mu_};
                subs_.push_back(g);
                cancel_now = cancelled_;
            }
            if (cancel_now) {
                g->cancel();
            }
        }
    }

    void cancel() override {
        std::vector<std::weak_ptr<generation>> subs;
        {
            llmp::lock_guard lock{mu_};
            cancelled_ = true;
            subs = subs_;
        }
        for (auto& weak : subs) {
            if (auto g = weak.lock()) {
                g->cancel();
            }
        }
    }

private:
    // Strand only:
    void on_token(std::size_t i, const std::string& text) {
        if (ended_) {
            return;
        }
        if (i == 0) {
            cb_.on_token(text);
        } else {
            cb_.on_choice_token(static_cast<int>(i), text);
        }
    }

    void on_complete(std::size_t i, completion c) {
        if (ended_) {
            return;
        }
        done_[i] = std::move(c);
        for (const auto& d : done_) {
            if (!d) {
                return;
            }
        }
        ended_ = true;
        completion merged = std::move(*done_[0]);
        for (std::size_t k = 1; k < done_.size(); ++k) {
            auto& d = *done_[k];
            merged.completion_tokens += d.completion_tokens;
            auto& out = merged.choices.emplace_back();
            out.index = static_cast<int>(k);
            out.done_reason = std::move(d.done_reason);
            out.tool_calls = std::move(d.tool_calls);
            out.logprobs = std::move(d.logprobs);
        }
        merged.provider_metrics["choices"] = static_cast<std::int64_t>(done_.size());
        cb_.on_complete(std::move(merged));
    }

    void on_error(error e) {
        if (ended_) {
            return;
        }
        ended_ = true;
        cancel();  // the other choices: their own ends are ignored
        cb_.on_error(std::move(e));
    }

    net::strand<net::any_io_executor> strand_;
    generation_callbacks cb_;
    std::vector<std::optional<completion>> done_;  // strand only
    bool ended_ = false;                           // strand only
    llmp::mutex mu_;
    /// Weak, as pool_generation's: a running generation keeps itself alive, and its callbacks
    /// hold this one; strong pointers both ways would be a cycle that outlives the request.
    std::vector<std::weak_ptr<generation>> subs_ GUARDED_BY(mu_);
    bool cancelled_ GUARDED_BY(mu_) = false;
};

}  // namespace

std::shared_ptr<generation> start_choice_fanout(const net::any_io_executor& ex, const generation_request& req,
                                                generation_callbacks cb, const start_one_fn& start_one) {
    auto g = std::make_shared<fanout_generation>(ex, choices_wanted(req), std::move(cb));
    g->start(req, start_one);
    return g;
}

}  // namespace llmp::providers
