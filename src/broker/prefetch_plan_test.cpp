#include "broker/prefetch_plan.hpp"

#include <gtest/gtest.h>

namespace llmp::broker {
namespace {

using kind = prefetch_step::kind;
using sends = std::vector<std::optional<std::uint16_t>>;

prefetch_step settle() {
    return {kind::settle};
}
prefetch_step change(std::uint16_t n) {
    return {kind::prefetch, n};
}
prefetch_step other() {
    return {kind::other};
}

/// Replays a batch as the broker sees it: the prefetch in effect at each settle, and at the end.
struct replay {
    std::vector<std::uint16_t> at_settles;
    std::uint16_t after = 0;
};
replay as_sent(const std::vector<prefetch_step>& steps, const sends& plan, std::uint16_t before) {
    replay r;
    std::uint16_t now = before;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].what == kind::settle) {
            r.at_settles.push_back(now);
        }
        if (plan[i]) {
            now = *plan[i];
        }
    }
    r.after = now;
    return r;
}
/// The same batch carried out one change at a time, as the worker asked.
replay as_asked(const std::vector<prefetch_step>& steps, std::uint16_t before) {
    replay r;
    std::uint16_t now = before;
    for (const auto& s : steps) {
        if (s.what == kind::settle) {
            r.at_settles.push_back(now);
        } else if (s.what == kind::prefetch) {
            now = s.count;
        }
    }
    r.after = now;
    return r;
}
int frames(const sends& plan) {
    return static_cast<int>(std::count_if(plan.begin(), plan.end(), [](const auto& v) { return v.has_value(); }));
}

TEST(prefetch_plan, a_batch_of_requests_that_end_and_settle_sends_nothing_when_the_count_comes_back) {
    // Two generations end (up), then each answer is confirmed (down, ack): back where it was.
    std::vector<prefetch_step> steps{change(65), change(66), change(65), settle(), change(64), settle()};
    std::optional<std::uint16_t> in_effect = 64;
    auto plan = plan_prefetch(steps, in_effect);
    EXPECT_EQ(frames(plan), 0);
    EXPECT_EQ(in_effect, 64);
}

TEST(prefetch_plan, no_settle_ever_sees_a_prefetch_above_what_was_asked_before_it_and_the_last_value_wins) {
    const std::vector<std::vector<prefetch_step>> batches{
        {change(65), settle(), change(66), settle()},
        {change(66), change(65), settle(), other(), change(64), settle(), change(65)},
        {settle(), change(70), other()},
        {change(63), change(64), other(), change(65)},
        {settle(), settle()},
        {change(64), settle(), change(65), change(64), settle(), change(66), change(67)},
    };
    for (std::size_t b = 0; b < batches.size(); ++b) {
        const auto& steps = batches[b];
        std::optional<std::uint16_t> in_effect = 64;
        auto plan = plan_prefetch(steps, in_effect);
        ASSERT_EQ(plan.size(), steps.size());
        auto sent = as_sent(steps, plan, 64);
        auto asked = as_asked(steps, 64);
        ASSERT_EQ(sent.at_settles.size(), asked.at_settles.size());
        for (std::size_t i = 0; i < sent.at_settles.size(); ++i) {
            EXPECT_LE(sent.at_settles[i], asked.at_settles[i]) << "batch " << b << ", settle " << i;
        }
        EXPECT_EQ(sent.after, asked.after) << "batch " << b;
        EXPECT_EQ(in_effect, asked.after) << "batch " << b;
        EXPECT_LE(frames(plan), 2) << "batch " << b;
    }
}

TEST(prefetch_plan, the_lowered_value_goes_before_the_settles_and_the_raised_one_after_them) {
    std::vector<prefetch_step> steps{change(63), settle(), change(65), settle()};
    std::optional<std::uint16_t> in_effect = 64;
    auto plan = plan_prefetch(steps, in_effect);
    EXPECT_EQ(plan, (sends{63, std::nullopt, std::nullopt, 65}));
}

TEST(prefetch_plan, an_unknown_prefetch_is_always_sent) {
    // A new connection: setup set a prefetch the plan does not know.
    std::vector<prefetch_step> steps{other(), change(64)};
    std::optional<std::uint16_t> in_effect;
    auto plan = plan_prefetch(steps, in_effect);
    EXPECT_EQ(plan, (sends{std::nullopt, 64}));
    EXPECT_EQ(in_effect, 64);
}

TEST(prefetch_plan, a_batch_without_changes_sends_none_and_keeps_what_is_in_effect) {
    std::vector<prefetch_step> steps{settle(), other(), settle()};
    std::optional<std::uint16_t> in_effect = 70;
    auto plan = plan_prefetch(steps, in_effect);
    EXPECT_EQ(frames(plan), 0);
    EXPECT_EQ(in_effect, 70);
}

}  // namespace
}  // namespace llmp::broker
