#include "api/response_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <vector>

namespace llmp::api {
namespace {

chunk_event chunk(std::int64_t seq, std::size_t bytes) {
    return {seq, std::string(bytes, 'x'), "w"};
}

TEST(response_sink, past_its_cap_it_calls_the_overflow_hook_once_and_holds_no_more) {
    net::io_context ioc;
    auto sink = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    int hooks = 0;
    sink->on_overflow([&] { ++hooks; });
    // A client that reads nothing while the worker keeps generating.
    for (int i = 1; i <= 10000; ++i) {
        sink->deliver(chunk(i, 100));
    }
    sink->deliver(final_message{});
    ioc.run();
    EXPECT_TRUE(sink->overflowed());
    EXPECT_EQ(hooks, 1);
    EXPECT_LE(sink->events().size(), 10u) << "events after the overflow are dropped, not buffered";
    for (const auto& e : sink->events()) {
        EXPECT_TRUE(std::holds_alternative<chunk_event>(e));
    }
}

TEST(response_sink, within_its_cap_every_event_is_kept) {
    net::io_context ioc;
    auto sink = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    bool hooked = false;
    sink->on_overflow([&] { hooked = true; });
    for (int i = 1; i <= 5; ++i) {
        sink->deliver(chunk(i, 100));
    }
    sink->deliver(final_message{});
    ioc.run();
    EXPECT_FALSE(sink->overflowed());
    EXPECT_FALSE(hooked);
    EXPECT_EQ(sink->events().size(), 6u);
}

TEST(response_sink, one_batch_reaches_every_sink_in_order) {
    net::io_context ioc;
    auto a = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    auto b = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    // One broker message's frames: two streams interleaved, the second stream first.
    response_sink::batch events;
    events.emplace_back(b, chunk(1, 1));
    events.emplace_back(a, chunk(1, 1));
    events.emplace_back(b, chunk(2, 1));
    events.emplace_back(a, chunk(2, 1));
    events.emplace_back(a, chunk(3, 1));
    response_sink::deliver_all(std::move(events));
    EXPECT_TRUE(a->events().empty()) << "delivered on the strands, not on the caller's thread";
    ioc.run();
    auto seqs = [](response_sink& s) {
        std::vector<std::int64_t> out;
        for (const auto& e : s.events()) {
            out.push_back(std::get<chunk_event>(e).seq);
        }
        return out;
    };
    EXPECT_EQ(seqs(*a), (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(seqs(*b), (std::vector<std::int64_t>{1, 2}));
}

TEST(response_sink, a_batch_past_one_sinks_cap_overflows_only_that_sink) {
    net::io_context ioc;
    auto a = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    auto b = std::make_shared<response_sink>(net::make_strand(ioc), 1000);
    int hooks = 0;
    a->on_overflow([&] { ++hooks; });
    response_sink::batch events;
    for (int i = 1; i <= 30; ++i) {
        events.emplace_back(a, chunk(i, 100));
        events.emplace_back(b, chunk(i, 10));
    }
    response_sink::deliver_all(std::move(events));
    ioc.run();
    EXPECT_TRUE(a->overflowed());
    EXPECT_EQ(hooks, 1);
    EXPECT_FALSE(b->overflowed());
    EXPECT_EQ(b->events().size(), 30u);
}

}  // namespace
}  // namespace llmp::api
