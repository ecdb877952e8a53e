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
    EXPECT_EQ(percent_decode("F01%2D0001").value(), "F01-0001");
    EXPECT_EQ(percent_decode("a+b", true).value(), "a b");
    EXPECT_EQ(percent_decode("a+b", false).value(), "a+b");
    EXPECT_EQ(percent_decode("%C3%A9t%C3%A9").value(), "\xC3\xA9t\xC3\xA9");
    EXPECT_EQ(percent_decode("%zz").error().message, "has a malformed %-escape");
    EXPECT_FALSE(percent_decode("abc%2").ok());
    EXPECT_FALSE(percent_decode("abc%").ok());
    // The decoded text keeps the text rule: no NUL or other control, valid UTF-8.
    EXPECT_EQ(percent_decode("a%00b").error().message, "contains the control character U+0000");
    EXPECT_EQ(percent_decode("a%1Bb").error().message, "contains the control character U+001B");
    EXPECT_EQ(percent_decode("%FF").error().message, "is not valid UTF-8");
    EXPECT_EQ(percent_decode("%C0%80").error().message, "is not valid UTF-8");  // overlong NUL
    EXPECT_EQ(percent_decode("%C3").error().message, "is not valid UTF-8");
    EXPECT_EQ(percent_decode("a%09b%0Ac").value(), "a\tb\nc");
}

TEST(Strings, ParseIntAndUtf8) {
    EXPECT_EQ(parse_int("42"), 42);
    EXPECT_FALSE(parse_int("-1"));
    EXPECT_FALSE(parse_int("1.5"));
    EXPECT_FALSE(parse_int(""));
    EXPECT_FALSE(parse_int("99999999999999999999"));
    EXPECT_TRUE(valid_utf8("h\xc3\xa9llo"));
    EXPECT_TRUE(valid_utf8("\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));  // U+20AC, U+1F600, U+10FFFF
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("\xc3"));
    // What PostgreSQL refuses too: overlong forms, surrogates, code points past U+10FFFF.
    EXPECT_FALSE(valid_utf8("\xc0\x80"));
    EXPECT_FALSE(valid_utf8("\xc1\xbf"));
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));
    EXPECT_FALSE(valid_utf8("\xf0\x80\x80\xaf"));
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));
    EXPECT_FALSE(valid_utf8("\xf5\x80\x80\x80"));
}

TEST(Strings, TextRule) {
    EXPECT_EQ(text_problem("plain \xC3\xA9t\xC3\xA9 \xE2\x82\xAC"), std::nullopt);
    EXPECT_EQ(text_problem("line one\nline two\r\n\ttabbed"), std::nullopt);
    EXPECT_EQ(text_problem(""), std::nullopt);
    EXPECT_EQ(text_problem(std::string("root\0x", 6)), "contains the control character U+0000");
    EXPECT_EQ(text_problem("bell\x07"), "contains the control character U+0007");
    EXPECT_EQ(text_problem("del\x7f"), "contains the control character U+007F");
    EXPECT_EQ(text_problem("c1 \xC2\x85"), "contains the control character U+0085");  // NEL
    EXPECT_EQ(text_problem("\xC2\xA0"), std::nullopt);  // no-break space: not a control
    EXPECT_EQ(text_problem("bad \xff"), "is not valid UTF-8");
}

TEST(Strings, BlankCountsInvisibleCharacters) {
    EXPECT_TRUE(blank(""));
    EXPECT_TRUE(blank(" \t\r\n"));
    EXPECT_TRUE(blank("\xC2\xA0"));                  // U+00A0 no-break space
    EXPECT_TRUE(blank("\xE2\x80\x8B\xE2\x80\x8D"));  // U+200B zero-width space, U+200D joiner
    EXPECT_TRUE(blank("\xEF\xBB\xBF\xE3\x80\x80"));  // U+FEFF, U+3000 ideographic space
    EXPECT_TRUE(blank("\xE2\x81\xA0\xE2\x80\xAF"));  // U+2060 word joiner, U+202F
    EXPECT_TRUE(blank("\xE2\x80\x8E\xE2\x80\x8F\xC2\xAD"));  // U+200E, U+200F marks, U+00AD soft hyphen
    EXPECT_TRUE(blank("\xE3\x85\xA4\xE1\x85\x9F\xEF\xB8\x8F"));  // U+3164, U+115F fillers, U+FE0F
    EXPECT_FALSE(blank("\xE2\x80\x90"));  // U+2010 hyphen: visible
    EXPECT_FALSE(blank("x"));
    EXPECT_FALSE(blank("\xC2\xA0x\xC2\xA0"));
    EXPECT_FALSE(blank("\xff"));  // not text at all: left to the text rule
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
