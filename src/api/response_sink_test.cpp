#include "api/response_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace llmp::api
