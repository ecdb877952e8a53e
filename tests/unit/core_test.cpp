#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_null.hpp"
#include "core/log.hpp"
#include "core/strings.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using namespace silo;

TEST(Clock, FormatsAndParsesRfc3339) {
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(1772379561000), "2026-03-01T15:39:21Z");
    EXPECT_EQ(parse_rfc3339("2026-03-01T15:39:21Z"), 1772379561000);
    EXPECT_EQ(parse_rfc3339("2026-03-01T15:39:21.250Z"), 1772379561250);
    EXPECT_EQ(parse_rfc3339("2026-03-01T16:39:21+01:00"), 1772379561000);
    EXPECT_FALSE(parse_rfc3339("2026-03-01"));
    EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-03-01T15:39:21"));
    EXPECT_FALSE(parse_rfc3339("2026-03-01T15:39:21Zjunk"));
}

TEST(Clock, TimesInJsonAreRfc3339OrNull) {
    EXPECT_EQ(time_or_null(std::optional<Millis>(1772379561000)), "2026-03-01T15:39:21Z");
    EXPECT_TRUE(time_or_null(std::nullopt).is_null());
    EXPECT_EQ(time_or_null_if_zero(1772379561000), "2026-03-01T15:39:21Z");
    EXPECT_TRUE(time_or_null_if_zero(0).is_null());
}

TEST(Json, AbsentValuesAreNull) {
    EXPECT_EQ(value_or_null(std::optional<std::string>("ECO-7")), "ECO-7");
    EXPECT_EQ(value_or_null(std::optional<std::int64_t>(0)), 0);
    EXPECT_TRUE(value_or_null(std::optional<std::string>()).is_null());
}

TEST(Ids, UuidsAreV4AndDistinct) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto u = new_uuid();
        ASSERT_TRUE(is_uuid(u)) << u;
        EXPECT_EQ(u[14], '4');
        seen.insert(u);
    }
    EXPECT_EQ(seen.size(), 1000u);
    EXPECT_FALSE(is_uuid("not-a-uuid"));
    EXPECT_FALSE(is_uuid("00000000-0000-4000-8000-00000000000g"));
    EXPECT_TRUE(is_uuid("ABCDEF00-0000-4000-8000-000000000000"));
    EXPECT_EQ(to_lower_uuid("ABCDEF00-0000-4000-8000-000000000000"), "abcdef00-0000-4000-8000-000000000000");
}

TEST(Strings, PercentDecode) {
    EXPECT_EQ(percent_decode("F01%2D0001"), "F01-0001");
    EXPECT_EQ(percent_decode("a+b", true), "a b");
    EXPECT_EQ(percent_decode("a+b", false), "a+b");
    EXPECT_FALSE(percent_decode("%zz"));
    EXPECT_FALSE(percent_decode("abc%2"));
    EXPECT_FALSE(percent_decode("abc%"));
    EXPECT_FALSE(percent_decode("a%00b"));
}

TEST(Strings, ParseIntAndUtf8) {
    EXPECT_EQ(parse_int("42"), 42);
    EXPECT_FALSE(parse_int("-1"));
    EXPECT_FALSE(parse_int("1.5"));
    EXPECT_FALSE(parse_int(""));
    EXPECT_FALSE(parse_int("99999999999999999999"));
    EXPECT_TRUE(valid_utf8("h\xc3\xa9llo"));
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("\xc3"));
}

namespace {
Result<int> half(int v) {
    if (v % 2) return bad_request("odd");
    return v / 2;
}
Result<int> quarter(int v) {
    SILO_TRY(auto h, half(v));
    SILO_TRY(auto q, half(h));
    return q;
}
}  // namespace

TEST(Result, TryPropagatesErrors) {
    EXPECT_EQ(*quarter(8), 2);
    auto r = quarter(6);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::bad_request);
    EXPECT_STREQ(errc_name(Errc::hard_interference), "hard_interference");
}

TEST(Log, WritesOneJsonObjectPerLineInKeyOrder) {
    log::init(log::Level::info);
    testing::internal::CaptureStderr();
    log::info("say \"hi\"\n", {{"status", 200}, {"path", "/a\\b"}, {"msg", "ignored"}});
    log::debug("below the level");
    std::string out = testing::internal::GetCapturedStderr();
    ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    auto line = nlohmann::json::parse(out);
    EXPECT_EQ(line["msg"], "say \"hi\"\n");
    EXPECT_EQ(line["level"], "info");
    EXPECT_EQ(line["status"], 200);
    EXPECT_EQ(line["path"], "/a\\b");
    ASSERT_TRUE(parse_rfc3339(line["ts"].get<std::string>())) << out;
    EXPECT_EQ(out.rfind("{\"ts\":", 0), 0u) << out;
    EXPECT_LT(out.find("\"msg\""), out.find("\"path\"")) << out;
}
