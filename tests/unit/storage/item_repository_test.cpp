// Contract tests of ItemRepository on both dialects.
#include "storage/item_repository.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.hpp"
#include "support/test_db.hpp"

namespace silo {
namespace {

using sql::Tx;
using sql::TxMode;

ItemRecord make_item(std::string pn, std::string description = "", Millis at = 1000) {
    ItemRecord r;
    r.id = new_uuid();
    r.part_number = std::move(pn);
    r.item_type = "part";
    r.description = std::move(description);
    r.revision = 0;
    r.created_at = at;
    r.created_by = "alice";
    r.updated_at = at;
    return r;
}

void expect_same(const ItemRecord& a, const ItemRecord& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.part_number, b.part_number);
    EXPECT_EQ(a.item_type, b.item_type);
    EXPECT_EQ(a.description, b.description);
    EXPECT_EQ(a.revision, b.revision);
    EXPECT_EQ(a.created_at, b.created_at);
    EXPECT_EQ(a.created_by, b.created_by);
    EXPECT_EQ(a.updated_at, b.updated_at);
}

class ItemRepositoryTest : public test::DialectTest {
  protected:
    bool insert(const ItemRecord& item) {
        auto r = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
            return ItemRepository::insert(tx, item);
        });
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() && *r;
    }

    std::optional<ItemRecord> find_pn(std::string_view pn) {
        auto r = db().transact<std::optional<ItemRecord>>(
            TxMode::read, [&](Tx& tx) -> Result<std::optional<ItemRecord>> {
                return ItemRepository::find_by_part_number(tx, pn);
            });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : std::nullopt;
    }

    std::optional<ItemRecord> find_id(std::string_view id) {
        auto r = db().transact<std::optional<ItemRecord>>(
            TxMode::read, [&](Tx& tx) -> Result<std::optional<ItemRecord>> {
                return ItemRepository::find_by_id(tx, id);
            });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : std::nullopt;
    }

    ItemPage list(std::string_view q, std::int64_t limit = 100, std::int64_t offset = 0) {
        auto r = db().transact<ItemPage>(TxMode::read, [&](Tx& tx) -> Result<ItemPage> {
            return ItemRepository::list(tx, q, limit, offset);
        });
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? *r : ItemPage{};
    }

    static std::vector<std::string> part_numbers(const ItemPage& page) {
        std::vector<std::string> out;
        for (const auto& i : page.items) out.push_back(i.part_number);
        return out;
    }
};

using Strings = std::vector<std::string>;

TEST_P(ItemRepositoryTest, InsertThenFindCaseInsensitively) {
    auto item = make_item("F01-0001", "Bracket");
    ASSERT_TRUE(insert(item));
    auto found = find_pn("f01-0001");
    ASSERT_TRUE(found.has_value());
    expect_same(*found, item);  // the part number keeps its given case
    ASSERT_TRUE(find_pn("F01-0001").has_value());
    EXPECT_FALSE(find_pn("F01-0002").has_value());
    auto by_id = find_id(item.id);
    ASSERT_TRUE(by_id.has_value());
    expect_same(*by_id, item);
    EXPECT_FALSE(find_id(new_uuid()).has_value());
}

TEST_P(ItemRepositoryTest, DuplicatePartNumberIsRejectedAndTheTransactionStaysUsable) {
    ASSERT_TRUE(insert(make_item("ABC-1")));
    auto dup = make_item("abc-1");
    auto other = make_item("ABC-2");
    auto r = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
        EXPECT_FALSE(ItemRepository::insert(tx, dup));
        // Still usable afterwards (no aborted PostgreSQL transaction).
        EXPECT_TRUE(ItemRepository::insert(tx, other));
        return ItemRepository::find_by_part_number(tx, "abc-2").has_value();
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(*r);
    EXPECT_FALSE(find_id(dup.id).has_value());
    EXPECT_TRUE(find_id(other.id).has_value());
    EXPECT_EQ(find_pn("ABC-1")->part_number, "ABC-1");
}

TEST_P(ItemRepositoryTest, ArchiveHidesTheItemAndKeepsTheNumberTaken) {
    auto item = make_item("P-100");
    ASSERT_TRUE(insert(item));
    auto archived = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
        return ItemRepository::archive(tx, item.id, 5000);
    });
    ASSERT_TRUE(archived.ok());
    EXPECT_TRUE(*archived);
    EXPECT_FALSE(find_pn("P-100").has_value());
    EXPECT_FALSE(find_id(item.id).has_value());
    EXPECT_EQ(list("").total, 0);
    EXPECT_FALSE(insert(make_item("p-100")));  // still taken

    auto again = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
        return ItemRepository::archive(tx, item.id, 6000);
    });
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
    auto missing = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
        return ItemRepository::archive(tx, new_uuid(), 6000);
    });
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(*missing);
}

TEST_P(ItemRepositoryTest, Update) {
    auto item = make_item("U-1", "old");
    ASSERT_TRUE(insert(item));
    ItemRecord changed = item;
    changed.description = "new";
    changed.item_type = "assembly";
    changed.revision = 3;
    changed.updated_at = 9000;
    changed.created_by = "mallory";  // not updatable
    changed.part_number = "U-2";     // not updatable
    auto r = db().transact<bool>(
        TxMode::write, [&](Tx& tx) -> Result<bool> { return ItemRepository::update(tx, changed); });
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r);
    auto found = find_id(item.id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->description, "new");
    EXPECT_EQ(found->item_type, "assembly");
    EXPECT_EQ(found->revision, 3);
    EXPECT_EQ(found->updated_at, 9000);
    EXPECT_EQ(found->created_at, item.created_at);
    EXPECT_EQ(found->created_by, "alice");
    EXPECT_EQ(found->part_number, "U-1");

    ItemRecord ghost = make_item("U-9");
    r = db().transact<bool>(
        TxMode::write, [&](Tx& tx) -> Result<bool> { return ItemRepository::update(tx, ghost); });
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(*r);

    ASSERT_TRUE(db().transact(TxMode::write,
                              [&](Tx& tx) -> Status {
                                  ItemRepository::archive(tx, item.id, 10000);
                                  return {};
                              })
                    .ok());
    r = db().transact<bool>(
        TxMode::write, [&](Tx& tx) -> Result<bool> { return ItemRepository::update(tx, changed); });
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(*r);  // archived items are not updated
}

TEST_P(ItemRepositoryTest, ListOrdersByKeyAndPages) {
    for (std::string pn : {"b-2", "A-1", "c-3", "B-1", "a-2"}) ASSERT_TRUE(insert(make_item(pn)));
    auto all = list("");
    EXPECT_EQ(all.total, 5);
    EXPECT_EQ(part_numbers(all), (Strings{"A-1", "a-2", "B-1", "b-2", "c-3"}));

    auto page = list("", 2, 1);
    EXPECT_EQ(page.total, 5);
    EXPECT_EQ(part_numbers(page), (Strings{"a-2", "B-1"}));

    page = list("", 2, 4);
    EXPECT_EQ(page.total, 5);
    EXPECT_EQ(part_numbers(page), (Strings{"c-3"}));

    page = list("", 10, 50);
    EXPECT_EQ(page.total, 5);
    EXPECT_TRUE(page.items.empty());

    page = list("", 0, 0);
    EXPECT_EQ(page.total, 5);
    EXPECT_TRUE(page.items.empty());
}

TEST_P(ItemRepositoryTest, ListMatchesPartNumberOrDescriptionCaseInsensitively) {
    ASSERT_TRUE(insert(make_item("F01-0001", "Mounting Bracket")));
    ASSERT_TRUE(insert(make_item("F01-0002", "Hinge pin")));
    ASSERT_TRUE(insert(make_item("G02-0001", "bracket, left")));
    ASSERT_TRUE(insert(make_item("H03-0001", "Cover")));

    auto page = list("BRACKET");
    EXPECT_EQ(page.total, 2);
    EXPECT_EQ(part_numbers(page), (Strings{"F01-0001", "G02-0001"}));

    page = list("f01");
    EXPECT_EQ(part_numbers(page), (Strings{"F01-0001", "F01-0002"}));

    page = list("0001", 1, 1);
    EXPECT_EQ(page.total, 3);
    EXPECT_EQ(part_numbers(page), (Strings{"G02-0001"}));

    page = list("nothing-like-this");
    EXPECT_EQ(page.total, 0);
    EXPECT_TRUE(page.items.empty());
}

TEST_P(ItemRepositoryTest, ListTakesLikeWildcardsLiterally) {
    ASSERT_TRUE(insert(make_item("X-1", "100% steel")));
    ASSERT_TRUE(insert(make_item("X-2", "100 steel")));
    ASSERT_TRUE(insert(make_item("X_3", "plain")));
    ASSERT_TRUE(insert(make_item("XY4", "back\\slash")));

    EXPECT_EQ(part_numbers(list("%")), (Strings{"X-1"}));
    EXPECT_EQ(part_numbers(list("0% s")), (Strings{"X-1"}));
    EXPECT_EQ(part_numbers(list("_")), (Strings{"X_3"}));
    EXPECT_EQ(part_numbers(list("x_")), (Strings{"X_3"}));
    EXPECT_EQ(part_numbers(list("\\")), (Strings{"XY4"}));
    EXPECT_EQ(list("%").total, 1);
    EXPECT_EQ(list("_").total, 1);
}

TEST_P(ItemRepositoryTest, ListSkipsArchivedItems) {
    auto a = make_item("K-1", "keep");
    auto b = make_item("K-2", "keep");
    ASSERT_TRUE(insert(a));
    ASSERT_TRUE(insert(b));
    ASSERT_TRUE(db().transact(TxMode::write,
                              [&](Tx& tx) -> Status {
                                  EXPECT_TRUE(ItemRepository::archive(tx, a.id, 2000));
                                  return {};
                              })
                    .ok());
    auto page = list("keep");
    EXPECT_EQ(page.total, 1);
    EXPECT_EQ(part_numbers(page), (Strings{"K-2"}));
}

TEST_P(ItemRepositoryTest, NextSequenceCountsPerSchemaAndPrefix) {
    auto next = [&](std::string schema, std::string prefix) {
        auto r = db().transact<std::int64_t>(TxMode::write, [&](Tx& tx) -> Result<std::int64_t> {
            return ItemRepository::next_sequence(tx, schema, prefix);
        });
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : -1;
    };
    EXPECT_EQ(next("kindred-rd", "F01"), 1);
    EXPECT_EQ(next("kindred-rd", "F01"), 2);
    EXPECT_EQ(next("kindred-rd", "F02"), 1);
    EXPECT_EQ(next("other", "F01"), 1);
    EXPECT_EQ(next("kindred-rd", "F01"), 3);
}

TEST_P(ItemRepositoryTest, NextSequenceIsNotConsumedByARolledBackTransaction) {
    auto st = db().transact(TxMode::write, [&](Tx& tx) -> Status {
        EXPECT_EQ(ItemRepository::next_sequence(tx, "s", "P"), 1);
        return conflict("changed my mind");
    });
    EXPECT_FALSE(st.ok());
    auto r = db().transact<std::int64_t>(TxMode::write, [&](Tx& tx) -> Result<std::int64_t> {
        return ItemRepository::next_sequence(tx, "s", "P");
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 1);
}

TEST_P(ItemRepositoryTest, NextSequenceUnderConcurrency) {
    constexpr int kThreads = 8, kCalls = 50;
    std::mutex mu;
    std::vector<std::int64_t> values;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kCalls; ++i) {
                auto r =
                    db().transact<std::int64_t>(TxMode::write, [&](Tx& tx) -> Result<std::int64_t> {
                        return ItemRepository::next_sequence(tx, "kindred-rd", "F01");
                    });
                if (!r.ok()) {
                    ++failures;
                    continue;
                }
                std::lock_guard lock(mu);
                values.push_back(*r);
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_EQ(values.size(), static_cast<size_t>(kThreads * kCalls));
    std::sort(values.begin(), values.end());
    for (size_t i = 0; i < values.size(); ++i)
        EXPECT_EQ(values[i], static_cast<std::int64_t>(i + 1));
}

TEST_P(ItemRepositoryTest, ConcurrentInsertsOfOnePartNumberHaveOneWinner) {
    constexpr int kThreads = 8;
    std::atomic<int> wins{0}, losses{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            auto item = make_item(t % 2 ? "RACE-1" : "race-1");
            auto r = db().transact<bool>(TxMode::write, [&](Tx& tx) -> Result<bool> {
                return ItemRepository::insert(tx, item);
            });
            if (!r.ok())
                ++errors;
            else if (*r)
                ++wins;
            else
                ++losses;
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(losses.load(), kThreads - 1);
}

SILO_INSTANTIATE_DIALECTS(ItemRepositoryTest);

}  // namespace
}  // namespace silo
