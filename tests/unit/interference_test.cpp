#include "domain/interference.hpp"

#include <gtest/gtest.h>

using namespace silo;

TEST(Interference, ContextLevels) {
    EXPECT_TRUE(valid_context_level("sketch"));
    EXPECT_TRUE(valid_context_level("partdesign"));
    EXPECT_TRUE(valid_context_level("assembly"));
    EXPECT_FALSE(valid_context_level("Sketch"));
    EXPECT_FALSE(valid_context_level(""));
    EXPECT_FALSE(valid_context_level("drawing"));
}

TEST(Interference, SharedNodeKeysMakeSoftConflicts) {
    std::vector<ConeHolder> others = {
        {"s1", "alice", "Sketch001", {"Body.Pad", "Body.Sketch001", "Body.Pocket"}},
        {"s2", "bob", "Sketch002", {"Body.Fillet"}},
        {"s3", "carol", "Pad001", {"Body.Pocket", "Body.Pad", "Body.Pad"}},
    };
    auto c = soft_conflicts({"Body.Pad", "Body.Pocket", "Body.Chamfer"}, others);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].session_id, "s1");
    EXPECT_EQ(c[0].shared_nodes, (std::vector<std::string>{"Body.Pad", "Body.Pocket"}));
    EXPECT_EQ(c[1].session_id, "s3");
    EXPECT_EQ(c[1].username, "carol");
    EXPECT_EQ(c[1].shared_nodes, (std::vector<std::string>{"Body.Pad", "Body.Pocket"}));
}

TEST(Interference, EmptyConesNeverConflict) {
    std::vector<ConeHolder> others = {{"s1", "alice", "Sketch001", {}}};
    EXPECT_TRUE(soft_conflicts({"A"}, others).empty());
    EXPECT_TRUE(soft_conflicts({}, {{"s2", "bob", "X", {"A"}}}).empty());
}
