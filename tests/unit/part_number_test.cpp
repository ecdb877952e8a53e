#include "domain/part_number.hpp"
#include "support/test_paths.hpp"

#include <gtest/gtest.h>

using namespace silo;

TEST(PartNumber, Alphabet) {
    EXPECT_TRUE(valid_part_number("F01-0001"));
    EXPECT_TRUE(valid_part_number("a.b_c-D"));
    EXPECT_TRUE(valid_part_number(std::string(64, 'x')));
    EXPECT_FALSE(valid_part_number(""));
    EXPECT_FALSE(valid_part_number(std::string(65, 'x')));
    EXPECT_FALSE(valid_part_number("has space"));
    EXPECT_FALSE(valid_part_number("slash/no"));
    EXPECT_FALSE(valid_part_number("caf\xc3\xa9"));
    EXPECT_EQ(part_number_key("F01-ABC"), "f01-abc");
}

TEST(PartNumber, SchemaParsesAndFormats) {
    auto s = parse_schema("schema:\n  name: rd\n  sequence_digits: 4\n  categories:\n    F01: Fasteners\n", "rd.yaml");
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->format("F01", 1), "F01-0001");
    EXPECT_EQ(s->format("F01", 12345), "F01-12345");
}

TEST(PartNumber, SchemaErrorsNameTheFileAndField) {
    struct Case {
        const char* yaml;
        const char* expect;
    } cases[] = {
        {"schema: [1", "not valid YAML"},
        {"other: 1", "'schema' key"},
        {"schema:\n  categories: {F01: x}\n", "schema.name"},
        {"schema:\n  name: rd\n", "schema.categories"},
        {"schema:\n  name: rd\n  sequence_digits: 0\n  categories: {F01: x}\n", "sequence_digits"},
        {"schema:\n  name: rd\n  colour: red\n  categories: {F01: x}\n", "schema.colour"},
        {"schema:\n  name: rd\n  categories: {\"F 01\": x}\n", "category code"},
    };
    for (const auto& c : cases) {
        auto r = parse_schema(c.yaml, "bad.yaml");
        ASSERT_FALSE(r.ok()) << c.yaml;
        EXPECT_NE(r.error().message.find("bad.yaml"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
    }
}

TEST(PartNumber, ShippedSchemaLoads) {
    auto all = load_schemas(silo::test::source_dir() + "/schemas");
    ASSERT_TRUE(all.ok()) << all.error().message;
    ASSERT_TRUE(all->count("kindred-rd"));
    EXPECT_TRUE(all->at("kindred-rd").categories.count("F01"));
    EXPECT_EQ(all->at("kindred-rd").format("F01", 1), "F01-0001");
}
