#include "api/response_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

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

TEST(response_sink, events_handed_over_on_one_strand_keep_their_order_on_two_io_threads) {
    // What the response router does (api/response_router.hpp): every broker message is posted
    // once to a hand-off strand, which enters the stream's strand from there; with two threads
    // running the io_context the stream's strand is sometimes free (inline) and sometimes busy
    // on the other thread (queued), and the order must hold either way.
    net::io_context ioc;
    auto stream_strand = net::make_strand(ioc);
    auto sink = std::make_shared<response_sink>(stream_strand, std::size_t{1} << 30);
    auto handoff = net::make_strand(ioc);
    constexpr int messages = 500;
    constexpr int frames = 4;
    for (int m = 0; m < messages; ++m) {
        net::post(handoff, [sink, m] {
            for (int f = 1; f <= frames; ++f) {
                sink->deliver_dispatched(chunk(m * frames + f, 1));
            }
        });
        // The stream's strand busy with something else (the relay writing) now and then.
        if (m % 3 == 0) {
            net::post(stream_strand, [] {
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds{20};
                while (std::chrono::steady_clock::now() < until) {
                }
            });
        }
    }
    net::post(handoff, [sink] { sink->deliver_dispatched(final_message{}); });
    std::thread other{[&] { ioc.run(); }};
    ioc.run();
    other.join();
    const auto& evs = sink->events();
    ASSERT_EQ(evs.size(), static_cast<std::size_t>(messages * frames + 1));
    for (std::size_t i = 0; i + 1 < evs.size(); ++i) {
        const auto* c = std::get_if<chunk_event>(&evs[i]);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(c->seq, static_cast<std::int64_t>(i + 1));
    }
    EXPECT_TRUE(std::holds_alternative<final_message>(evs.back())) << "the final never overtakes its chunks";
}

TEST(response_sink, a_worker_id_is_shared_by_the_chunks_of_one_message_and_reads_as_a_string) {
    const worker_ref w{std::string{"worker-0123456789ab"}};
    chunk_event a{1, "x", w};
    chunk_event b{2, "y", w};
    EXPECT_EQ(&a.worker.str(), &b.worker.str()) << "one copy for the whole message";
    std::string serving = a.worker;  // what the relay does with it
    EXPECT_EQ(serving, "worker-0123456789ab");
    EXPECT_TRUE(b.worker == serving);
    EXPECT_FALSE(b.worker != serving);
    EXPECT_EQ(worker_ref{}.str(), "");
}

}  // namespace
}  // namespace llmp::api
