#pragma once
// fake_provider: a provider whose generations a test drives by hand. Each generation started
// on it is recorded (its request and callbacks); the test then calls token(), complete() or
// fail() on it to script what the upstream does. cancel() is counted and, as the provider
// contract says, ends the generation with on_error("cancelled") — posted to the executor given
// at construction, never from inside cancel(). start() throws when told to (a provider bug).
//
// Threading: single-threaded tests; the test thread plays the generation's strand, so it must
// not script a generation while the executor runs elsewhere. Header-only, for tests only.

#include "providers/provider.hpp"

#include <boost/asio/post.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmp::providers::testing {

class fake_generation final : public generation, public std::enable_shared_from_this<fake_generation> {
public:
    fake_generation(generation_request req, generation_callbacks cb, net::any_io_executor ex)
        : req_{std::move(req)}, cb_{std::move(cb)}, ex_{std::move(ex)} {}

    void cancel() override {
        ++cancels_;
        net::post(ex_, [self = shared_from_this()] { self->fail({"cancelled", "cancelled by the worker", false}); });
    }

    // The script: what the upstream does next. Calls after the end are ignored, as a provider
    // calls back at most once with an end.
    void token(std::string_view delta) {
        if (!ended_) {
            cb_.on_token(delta);
        }
    }
    /// A token of choice `index` >= 1 (the request asked for n > 1).
    void choice_token(int index, std::string_view delta) {
        if (!ended_) {
            cb_.on_choice_token(index, delta);
        }
    }
    bool has_choice_callback() const { return static_cast<bool>(cb_.on_choice_token); }
    void complete(completion c = {}) {
        if (!ended_) {
            ended_ = true;
            cb_.on_complete(std::move(c));
        }
    }
    void fail(error e) {
        if (!ended_) {
            ended_ = true;
            cb_.on_error(std::move(e));
        }
    }

    const generation_request& request() const { return req_; }
    int cancels() const { return cancels_; }
    bool ended() const { return ended_; }

private:
    generation_request req_;
    generation_callbacks cb_;
    net::any_io_executor ex_;
    int cancels_ = 0;
    bool ended_ = false;
};

class fake_provider final : public provider {
public:
    explicit fake_provider(net::any_io_executor ex, std::string name = "fake")
        : ex_{std::move(ex)}, name_{std::move(name)} {}

    std::string_view name() const override { return name_; }
    net::awaitable<result<void>> init() override { co_return ok(); }
    net::awaitable<result<std::vector<std::string>>> models() override { co_return models_; }

    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) override {
        if (!throw_next_.empty()) {
            throw std::runtime_error{std::exchange(throw_next_, {})};
        }
        auto g = std::make_shared<fake_generation>(req, std::move(cb), ex_);
        started_.push_back(g);
        return g;
    }

    /// The next start() throws this (once).
    void throw_on_next_start(std::string what) { throw_next_ = std::move(what); }
    void set_models(std::vector<std::string> m) { models_ = std::move(m); }

    /// The generations started so far, oldest first.
    const std::vector<std::shared_ptr<fake_generation>>& started() const { return started_; }
    fake_generation& last() { return *started_.back(); }

private:
    net::any_io_executor ex_;
    std::string name_;
    std::vector<std::string> models_{"fake:latest"};
    std::string throw_next_;
    std::vector<std::shared_ptr<fake_generation>> started_;
};

}  // namespace llmp::providers::testing
