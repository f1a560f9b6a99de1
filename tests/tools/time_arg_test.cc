// The tool's point arguments: LSNs as bare decimal numbers, ISO-8601 times
// with a zone (Z, an offset, milliseconds, a space for the T), and
// everything else rejected; times printed as ISO-8601 UTC.

#include "tools/time_arg.h"

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace wfstore::tools {
namespace {

// 2026-12-05T10:00:00Z in epoch milliseconds.
constexpr std::int64_t kTen = 1796464800000;

TEST(TimeArgTest, ABareDecimalNumberIsAnLsn) {
  const std::optional<PointArg> p = parse_point("42");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->is_lsn);
  EXPECT_EQ(p->lsn, 42U);
  EXPECT_EQ(parse_point("007")->lsn, 7U);  // decimal, not octal
  EXPECT_EQ(parse_point("18446744073709551615")->lsn, UINT64_MAX);
  for (const char* bad :
       {"", "-1", "+1", "0x10", "1e3", "4 2", "42 ", "18446744073709551616"}) {
    EXPECT_FALSE(parse_decimal_u64(bad)) << bad;
  }
}

TEST(TimeArgTest, IsoTimesWithAZoneMapToEpochMilliseconds) {
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T10:00:00Z"), kTen);
  EXPECT_EQ(parse_iso_time_ms("2026-12-05 10:00:00Z"), kTen);
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T10:00:00.123Z"), kTen + 123);
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T10:00:00.1Z"), kTen + 100);
  // Below a millisecond is dropped (commit times are milliseconds).
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T10:00:00.123999Z"), kTen + 123);
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T11:00:00+01:00"), kTen);
  EXPECT_EQ(parse_iso_time_ms("2026-12-05T04:30:00-05:30"), kTen);
  EXPECT_EQ(parse_iso_time_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso_time_ms("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(parse_iso_time_ms("2024-02-29T00:00:00Z"), 1709164800000);
  const std::optional<PointArg> p = parse_point("2026-12-05T10:00:00Z");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->is_lsn);
  EXPECT_EQ(p->time_ms, kTen);
}

TEST(TimeArgTest, TimesWithoutAZoneOrMalformedAreRejected) {
  for (const char* bad :
       {"2026-12-05T10:00:00",              // no zone: ambiguous
        "2026-12-05 10:00:00",              // no zone
        "2026-12-05",                       // a date only
        "2026-12-05T10:00Z",                // no seconds
        "2026-12-05T10:00:00.Z",            // an empty fraction
        "2026-12-05T10:00:00.1234567891Z",  // ten fraction digits
        "2026-12-05T10:00:00+0100",         // an offset without its colon
        "2026-12-05T10:00:00+24:00",        // an offset out of range
        "2026-12-05T10:00:00z",             // a lowercase zone
        "2026-12-05t10:00:00Z",             // a lowercase T
        "2026-13-05T10:00:00Z",             // month 13
        "2025-02-29T10:00:00Z",             // not a leap year
        "2026-12-05T24:00:00Z",             // hour 24
        "2026-12-05T10:60:00Z",             // minute 60
        "2026-12-05T10:00:60Z",             // a leap second
        "26-12-05T10:00:00Z",               // a two-digit year
        "2026-12-05T10:00:00Z ",            // trailing text
        "yesterday",
        "now",
        ""}) {
    EXPECT_FALSE(parse_iso_time_ms(bad)) << bad;
    EXPECT_FALSE(parse_point(bad)) << bad;
  }
}

TEST(TimeArgTest, ValidatorsNameTheAcceptedForms) {
  std::string text = "2026-12-05T10:00:00";
  const std::string message = point_validator()(text);
  EXPECT_NE(message.find("2026-12-05T10:00:00+01:00"), std::string::npos)
      << message;
  EXPECT_NE(message.find("LSN"), std::string::npos) << message;
  text = "42";
  EXPECT_EQ(point_validator()(text), "");
  EXPECT_NE(time_validator()(text), "");  // a time argument takes no LSN
}

TEST(TimeArgTest, TimesPrintAsIsoUtcWithMilliseconds) {
  EXPECT_EQ(format_time_ms(kTen + 7), "2026-12-05T10:00:00.007Z");
  EXPECT_EQ(format_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time_ms(-1), "1969-12-31T23:59:59.999Z");
  for (std::int64_t ms : {kTen, kTen + 999, std::int64_t{1709164800000}}) {
    EXPECT_EQ(parse_iso_time_ms(format_time_ms(ms)), ms);
  }
}

}  // namespace
}  // namespace wfstore::tools
