// model_aliases (parsing, lookup) and model_listing (each model once, with its workers).

#include "api/model_aliases.hpp"
#include "api/model_listing.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

TEST(ModelAliases, MapTheNameAsSentAndItsNormalizedFormToTheNormalizedTarget) {
    auto a = model_aliases::parse({"gpt-4o-mini=llama3.2:3b", "default=qwen2.5"});
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_NE(a.value().target_of("gpt-4o-mini"), nullptr);
    EXPECT_EQ(*a.value().target_of("gpt-4o-mini"), "llama3.2:3b");
    EXPECT_EQ(*a.value().target_of("gpt-4o-mini:latest"), "llama3.2:3b");
    EXPECT_EQ(*a.value().target_of("default"), "qwen2.5:latest");
    EXPECT_EQ(a.value().target_of("llama3.2:3b"), nullptr) << "a served model is no alias";
    ASSERT_EQ(a.value().list().size(), 2u);
    EXPECT_EQ(a.value().list()[0].name, "default") << "sorted by name";
}

TEST(ModelAliases, NoAliasesFindNothing) {
    model_aliases none;
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.target_of("default"), nullptr);
}

TEST(ModelAliases, RefuseMalformedConflictingAndChainedEntries) {
    for (const char* bad : {"gpt-4o-mini", "=llama3", "gpt=", "two words=llama3"}) {
        auto r = model_aliases::parse({bad});
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
    EXPECT_FALSE(model_aliases::parse({"a=llama3", "a=qwen"})) << "one alias, two targets";
    EXPECT_TRUE(model_aliases::parse({"a=llama3", "a=llama3:latest"})) << "the same target twice is fine";
    EXPECT_FALSE(model_aliases::parse({"a=b", "b=llama3"})) << "no chains";
}

worker_heartbeat hb(std::string id, std::vector<std::string> models, int concurrency, int in_flight) {
    worker_heartbeat h;
    h.worker_id = std::move(id);
    h.models = std::move(models);
    h.concurrency = concurrency;
    h.in_flight = in_flight;
    return h;
}

TEST(ModelListing, EachModelOnceWithItsWorkersAndFreeSlotsAndTheAliasesOfServedModels) {
    worker_registry reg{std::chrono::seconds{6}};
    reg.update(hb("w2", {"llama3.2"}, 4, 1));
    reg.update(hb("w1", {"llama3.2:latest", "qwen2.5:7b"}, 2, 2));
    auto aliases = model_aliases::parse({"default=llama3.2", "gone=mistral"}).value();
    auto list = list_models(reg, aliases);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].name, "default");
    EXPECT_TRUE(list[0].alias());
    EXPECT_EQ(list[0].target, "llama3.2:latest");
    EXPECT_EQ(list[1].name, "llama3.2:latest");
    EXPECT_EQ(list[1].workers, (std::vector<std::string>{"w1", "w2"}));
    EXPECT_EQ(list[1].free_slots, 3);
    EXPECT_EQ(list[0].free_slots, 3) << "an alias shows its model's workers";
    EXPECT_EQ(list[2].name, "qwen2.5:7b");
    EXPECT_EQ(list[2].free_slots, 0);
}

}  // namespace
}  // namespace llmp::api
