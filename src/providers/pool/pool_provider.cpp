#include "providers/pool/pool_provider.hpp"

#include "common/logging.hpp"
#include "common/mutex.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>

namespace llmp::providers {
namespace {

using steady = std::chrono::steady_clock;

/// Errors after which a generation that has sent nothing yet moves to another upstream.
bool worth_another_upstream(const error& e) {
    return e.code == "upstream_unavailable" || e.code == "upstream_rate_limited";
}

struct member_state {
    std::string label;
    std::unique_ptr<provider> upstream;  // immutable after construction
    // Under pool_state::mu (prose: an annotation cannot name another object's mutex):
    bool up = false;
    bool listed = false;              ///< models() has succeeded at least once
    std::vector<std::string> models;  ///< as of the last successful models()
    int in_flight = 0;
    steady::time_point down_since{};
};

/// Routing state shared by the provider and its generations.
struct pool_state {
    pool_state(std::vector<pool_member> ms, std::chrono::milliseconds retry, net::any_io_executor e)
        : retry_after{retry}, ex{std::move(e)} {
        for (auto& m : ms) {
            members.push_back(member_state{std::move(m.label), std::move(m.upstream)});
        }
    }

    const std::chrono::milliseconds retry_after;
    const net::any_io_executor ex;
    std::vector<member_state> members;  // the vector itself never changes after construction

    llmp::mutex mu;
    std::size_t next_first GUARDED_BY(mu) = 0;  // round-robin start for ties

    /// An upstream eligible for `model` now: up (or down long enough for another try) and
    /// listing it.
    bool eligible(const member_state& m, const std::string& model, steady::time_point now) const REQUIRES(mu) {
        if (!m.listed || (!m.up && now - m.down_since < retry_after)) {
            return false;
        }
        return std::find(m.models.begin(), m.models.end(), model) != m.models.end();
    }

    /// The least busy eligible upstream not in `tried` (ties round-robin); counts the
    /// generation in flight there.
    std::optional<std::size_t> pick(const std::string& model, const std::vector<std::size_t>& tried) {
        llmp::lock_guard lock{mu};
        const auto now = steady::now();
        const std::size_t n = members.size();
        std::optional<std::size_t> best;
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t i = (next_first + k) % n;
            const auto& m = members[i];
            if (std::find(tried.begin(), tried.end(), i) != tried.end() || !eligible(m, model, now)) {
                continue;
            }
            if (!best || m.in_flight < members[*best].in_flight) {
                best = i;
            }
        }
        if (best) {
            ++members[*best].in_flight;
            next_first = (*best + 1) % n;
        }
        return best;
    }

    /// Why nothing could be picked for `model`.
    error no_upstream(const std::string& model) {
        llmp::lock_guard lock{mu};
        std::string names;
        bool any_up = false;
        for (const auto& m : members) {
            any_up = any_up || m.up;
            names += (names.empty() ? "" : ", ") + m.label + (m.up ? "" : " (down)");
        }
        if (!any_up) {
            return {"upstream_unavailable", "no upstream of this worker is answering (" + names + ")", true};
        }
        return {"model_not_found",
                "model '" + model + "' is not served by any live upstream of this worker (" + names + ")", false};
    }

    void finished(std::size_t i, const error* e) {
        auto log = log::get("provider");
        llmp::lock_guard lock{mu};
        auto& m = members[i];
        --m.in_flight;
        if (e == nullptr) {
            if (!m.up && m.listed) {
                log->info("msg=\"upstream back\" upstream=\"{}\"", m.label);
                m.up = true;
            }
        } else if (e->code == "upstream_unavailable") {
            if (m.up) {
                log->warn("msg=\"upstream down\" upstream=\"{}\" error=\"{}\"", m.label, e->message);
            }
            m.up = false;
            m.down_since = steady::now();
        }
    }
};

class pool_generation : public generation, public std::enable_shared_from_this<pool_generation> {
public:
    pool_generation(std::shared_ptr<pool_state> pool, const generation_request& req, generation_callbacks cb)
        : pool_{std::move(pool)}, req_{req}, model_{normalize_model_name(req.model)}, cb_{std::move(cb)} {}

    /// Starts on the best upstream, or after `last` failed on the previous one, on the next.
    void start_next(std::optional<error> last) {
        auto i = pool_->pick(model_, tried_);
        bool cancelled = false;
        {
            llmp::lock_guard lock{mu_};
            cancelled = cancelled_;
        }
        if (!i || cancelled) {
            if (i) {
                pool_->finished(*i, nullptr);
            }
            error e = cancelled ? error{"cancelled", "generation cancelled", false}
                                : (last ? std::move(*last) : pool_->no_upstream(req_.model));
            // Never call back from inside start(): post to a strand of our own.
            net::post(net::make_strand(pool_->ex),
                      [self = shared_from_this(), e = std::move(e)]() mutable { self->cb_.on_error(std::move(e)); });
            return;
        }
        tried_.push_back(*i);
        if (last) {
            log::get("provider")
                ->info("msg=\"trying another upstream\" request_id={} upstream=\"{}\" after=\"{}\"", req_.request_id,
                       pool_->members[*i].label, last->message);
        }
        auto self = shared_from_this();
        const std::size_t idx = *i;
        generation_callbacks inner;
        inner.on_token = [self](std::string_view delta) {
            self->sent_token_ = true;
            self->cb_.on_token(delta);
        };
        if (cb_.on_choice_token) {
            inner.on_choice_token = [self](int index, std::string_view delta) {
                self->sent_token_ = true;
                self->cb_.on_choice_token(index, delta);
            };
        }
        inner.on_complete = [self, idx](completion c) {
            self->pool_->finished(idx, nullptr);
            self->drop_current();
            self->cb_.on_complete(std::move(c));
        };
        inner.on_error = [self, idx](error e) {
            self->pool_->finished(idx, &e);
            self->drop_current();
            if (!self->sent_token_ && worth_another_upstream(e)) {
                self->start_next(std::move(e));
                return;
            }
            self->cb_.on_error(std::move(e));
        };
        std::size_t attempt = 0;
        {
            llmp::lock_guard lock{mu_};
            attempt = ++attempts_;
        }
        auto& up = *pool_->members[idx].upstream;
        auto g = up.start(req_, std::move(inner));
        bool cancel_now = false;
        {
            llmp::lock_guard lock{mu_};
            // If this attempt already failed over (on another thread), the next one is current.
            if (attempts_ == attempt) {
                current_ = g;
                cancel_now = cancelled_;
            }
        }
        if (cancel_now) {
            g->cancel();
        }
    }

    void cancel() override {
        std::shared_ptr<generation> g;
        {
            llmp::lock_guard lock{mu_};
            cancelled_ = true;
            g = current_.lock();
        }
        if (g) {
            g->cancel();
        }
    }

private:
    void drop_current() {
        llmp::lock_guard lock{mu_};
        current_.reset();
    }

    std::shared_ptr<pool_state> pool_;
    generation_request req_;
    std::string model_;
    generation_callbacks cb_;
    std::vector<std::size_t> tried_;  // touched only by the one upstream generation running
    bool sent_token_ = false;         // likewise

    llmp::mutex mu_;
    // Weak: an upstream generation keeps itself alive while it runs, and holds our callbacks
    // (so a strong pointer here would be a reference cycle if it never ended, e.g. at shutdown).
    std::weak_ptr<generation> current_ GUARDED_BY(mu_);
    std::size_t attempts_ GUARDED_BY(mu_) = 0;  // upstream generations started
    bool cancelled_ GUARDED_BY(mu_) = false;
};

class pool_provider final : public provider {
public:
    pool_provider(std::vector<pool_member> members, std::chrono::milliseconds retry_after, net::any_io_executor ex)
        : pool_{std::make_shared<pool_state>(std::move(members), retry_after, std::move(ex))} {}

    std::string_view name() const override { return "pool"; }

    net::awaitable<result<void>> init() override {
        auto m = co_await models();
        if (!m) {
            co_return m.error();
        }
        co_return ok();
    }

    net::awaitable<result<std::vector<std::string>>> models() override {
        auto log = log::get("provider");
        // All upstreams at once: a dead one costs its connect timeout once, not once per member.
        auto lists = co_await ask_all();
        std::vector<std::string> all;
        std::string failures;
        for (std::size_t i = 0; i < pool_->members.size(); ++i) {
            auto& m = pool_->members[i];
            auto& r = *lists[i];
            llmp::lock_guard lock{pool_->mu};
            if (r) {
                if (!m.up) {
                    log->info("msg=\"upstream up\" upstream=\"{}\" models={}", m.label, r.value().size());
                }
                m.up = true;
                m.listed = true;
                m.models = std::move(r.value());
                all.insert(all.end(), m.models.begin(), m.models.end());
            } else {
                if (m.up || !m.listed) {
                    log->warn("msg=\"upstream down\" upstream=\"{}\" error=\"{}\"", m.label, r.error().message);
                }
                if (m.up) {
                    m.down_since = steady::now();
                }
                m.up = false;
                if (!failures.empty()) {
                    failures += "; ";
                }
                failures += r.error().message;
            }
        }
        if (all.empty() && !failures.empty()) {
            co_return error{"upstream_unavailable", "no upstream answered: " + failures, true};
        }
        std::sort(all.begin(), all.end());
        all.erase(std::unique(all.begin(), all.end()), all.end());
        co_return all;
    }

    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) override {
        auto g = std::make_shared<pool_generation>(pool_, req, std::move(cb));
        g->start_next(std::nullopt);
        return g;
    }

private:
    using model_list = result<std::vector<std::string>>;

    /// What the members' models() answered, gathered on one strand.
    struct gathering {
        explicit gathering(net::strand<net::any_io_executor> s, std::size_t n)
            : strand{s}, all_in{s}, lists(n), pending{n} {}
        net::strand<net::any_io_executor> strand;
        net::steady_timer all_in;  ///< cancelled when the last answer is in
        std::vector<std::optional<model_list>> lists;
        std::size_t pending;
    };

    /// Calls every member's models() concurrently and returns the answers in member order.
    net::awaitable<std::vector<std::optional<model_list>>> ask_all() {
        auto g = std::make_shared<gathering>(net::make_strand(pool_->ex), pool_->members.size());
        // The waiting runs on g->strand, where the answers are stored, so nothing races.
        co_return co_await net::co_spawn(g->strand, wait_all(g, pool_), net::use_awaitable);
    }

    static net::awaitable<std::vector<std::optional<model_list>>> wait_all(std::shared_ptr<gathering> g,
                                                                           std::shared_ptr<pool_state> pool) {
        g->all_in.expires_at(net::steady_timer::time_point::max());
        for (std::size_t i = 0; i < pool->members.size(); ++i) {
            net::co_spawn(pool->ex, ask_one(g, pool, i), net::detached);
        }
        while (g->pending > 0) {
            boost::system::error_code ec;
            co_await g->all_in.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        co_return std::move(g->lists);
    }

    static net::awaitable<void> ask_one(std::shared_ptr<gathering> g, std::shared_ptr<pool_state> pool, std::size_t i) {
        auto r = co_await pool->members[i].upstream->models();
        net::post(g->strand, [g, i, r = std::move(r)]() mutable {
            g->lists[i] = std::move(r);
            if (--g->pending == 0) {
                g->all_in.cancel();
            }
        });
    }

    std::shared_ptr<pool_state> pool_;
};

}  // namespace

std::unique_ptr<provider> make_pool_provider(std::vector<pool_member> members, std::chrono::milliseconds retry_after,
                                             net::any_io_executor ex) {
    return std::make_unique<pool_provider>(std::move(members), retry_after, std::move(ex));
}

}  // namespace llmp::providers
