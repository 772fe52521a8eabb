#pragma once
// Test helpers for provider unit tests (ollama, openai, pool): an io_context on two threads, a way to
// await a coroutine from the test thread, and a collector for one generation's callbacks.
// Header-only; included by *_test.cpp files only.

#include "providers/provider.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace llmp::providers::test {

inline constexpr std::chrono::seconds test_timeout{10};

/// What one generation produced. Filled on the generation's strand; read by the test thread
/// only after `finished` is ready.
struct outcome {
    std::vector<std::string> tokens;
    /// n > 1: choice i's (i >= 1) text, gathered from on_choice_token.
    std::map<int, std::string> choice_text;
    std::optional<completion> done;
    std::optional<error> err;

    std::string text() const {
        std::string out;
        for (const auto& t : tokens) {
            out += t;
        }
        return out;
    }
};

struct run_state {
    outcome out;
    std::atomic<int> terminals{0};
    std::promise<void> first_token;
    bool first_token_set = false;
    std::promise<outcome> finished;
};

inline generation_callbacks collect(const std::shared_ptr<run_state>& st) {
    generation_callbacks cb;
    cb.on_token = [st](std::string_view t) {
        EXPECT_EQ(st->terminals.load(), 0) << "token after the end";
        st->out.tokens.emplace_back(t);
        if (!st->first_token_set) {
            st->first_token_set = true;
            st->first_token.set_value();
        }
    };
    cb.on_choice_token = [st](int index, std::string_view t) {
        EXPECT_EQ(st->terminals.load(), 0) << "token after the end";
        EXPECT_GE(index, 1);
        st->out.choice_text[index] += t;
    };
    cb.on_complete = [st](completion c) {
        if (st->terminals.fetch_add(1) == 0) {
            st->out.done = std::move(c);
            st->finished.set_value(st->out);
        } else {
            ADD_FAILURE() << "second terminal callback";
        }
    };
    cb.on_error = [st](error e) {
        if (st->terminals.fetch_add(1) == 0) {
            st->out.err = std::move(e);
            st->finished.set_value(st->out);
        } else {
            ADD_FAILURE() << "second terminal callback";
        }
    };
    return cb;
}

inline unsigned short unused_port() {
    net::io_context tmp;
    net::ip::tcp::acceptor a{tmp, net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
    return a.local_endpoint().port();
}

/// A fixture base: an io_context run by two threads (so strands matter).
class io_fixture : public ::testing::Test {
protected:
    io_fixture() : work_{net::make_work_guard(ioc_)} {
        for (int i = 0; i < 2; ++i) {
            threads_.emplace_back([this] { ioc_.run(); });
        }
    }

    ~io_fixture() override {
        work_.reset();
        ioc_.stop();
        for (auto& t : threads_) {
            t.join();
        }
    }

    /// Runs `a` on the io_context and waits for its result.
    template <class T>
    T run(net::awaitable<T> a) {
        auto wrap = [](net::awaitable<T> inner) -> net::awaitable<std::optional<T>> {
            co_return co_await std::move(inner);
        };
        auto f = net::co_spawn(ioc_, wrap(std::move(a)), net::use_future);
        if (f.wait_for(test_timeout) != std::future_status::ready) {
            ADD_FAILURE() << "timed out";
            std::abort();
        }
        return std::move(*f.get());
    }

    /// Runs one generation to its end.
    outcome generate_all(provider& p, const generation_request& req) {
        auto st = std::make_shared<run_state>();
        auto fut = st->finished.get_future();
        auto g = p.start(req, collect(st));
        if (fut.wait_for(test_timeout) != std::future_status::ready) {
            ADD_FAILURE() << "generation did not end";
            std::abort();
        }
        return fut.get();
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

}  // namespace llmp::providers::test
