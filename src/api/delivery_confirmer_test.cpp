#include "api/delivery_confirmer.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

using ids = std::vector<std::string>;

TEST(DeliveryConfirmer, BatchesInOrderAtMostMaxIdsEach) {
    delivery_confirmer c{2};
    EXPECT_TRUE(c.take().empty()) << "nothing pending: the flush sends an empty keep-alive";
    for (const char* id : {"a", "b", "c"}) {
        c.delivered(id);
    }
    EXPECT_EQ(c.take(), (ids{"a", "b"}));
    EXPECT_EQ(c.take(), (ids{"c"}));
    EXPECT_EQ(c.pending(), 0u);
}

TEST(DeliveryConfirmer, ABatchTheBrokerRefusedGoesFirstInTheNextOne) {
    delivery_confirmer c{3};
    c.delivered("a");
    c.delivered("b");
    auto refused = c.take();
    c.delivered("c");  // delivered while the refused batch was on its way
    c.put_back(std::move(refused));
    EXPECT_EQ(c.pending(), 3u);
    EXPECT_EQ(c.take(), (ids{"a", "b", "c"})) << "nothing dropped, the oldest first";
}

}  // namespace
}  // namespace llmp::api
