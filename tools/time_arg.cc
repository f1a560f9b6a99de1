// Parsing of LSN and time arguments; printing of times.

#include "tools/time_arg.h"

#include <charconv>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace wfstore::tools {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos` into `*out`.
bool digits(std::string_view text, std::size_t* pos, std::size_t n,
            unsigned* out) {
  if (*pos + n > text.size()) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

bool expect(std::string_view text, std::size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

CLI::Validator make_validator(bool lsn_too) {
  return CLI::Validator(
      [lsn_too](std::string& text) -> std::string {
        const bool ok = lsn_too ? parse_point(text).has_value()
                                : parse_iso_time_ms(text).has_value();
        if (ok) return "";
        if (lsn_too) {
          return fmt::format("'{}' is not {}", text, kPointForms);
        }
        return fmt::format(
            "'{}' is not an ISO-8601 time with a zone "
            "(2026-12-05T10:00:00Z, 2026-12-05T10:00:00.123Z, "
            "2026-12-05T10:00:00+01:00; a space may replace the T)",
            text);
      },
      lsn_too ? "LSN|TIME" : "TIME");
}

}  // namespace

std::optional<std::uint64_t> parse_decimal_u64(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_iso_time_ms(std::string_view text) {
  std::size_t pos = 0;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  if (!digits(text, &pos, 4, &year) || !expect(text, &pos, '-') ||
      !digits(text, &pos, 2, &month) || !expect(text, &pos, '-') ||
      !digits(text, &pos, 2, &day)) {
    return std::nullopt;
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != ' ')) {
    return std::nullopt;
  }
  ++pos;
  if (!digits(text, &pos, 2, &hour) || !expect(text, &pos, ':') ||
      !digits(text, &pos, 2, &minute) || !expect(text, &pos, ':') ||
      !digits(text, &pos, 2, &second)) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (n < 3) millis = millis * 10 + (text[pos] - '0');
      ++n;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (; n < 3; ++n) millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool minus = text[pos] == '-';
    ++pos;
    unsigned oh = 0;
    unsigned om = 0;
    if (!digits(text, &pos, 2, &oh) || !expect(text, &pos, ':') ||
        !digits(text, &pos, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (minus ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
  } else {
    return std::nullopt;  // no zone: ambiguous
  }
  if (pos != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(year, month, day);
  const std::int64_t seconds =
      days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::optional<PointArg> parse_point(std::string_view text) {
  if (const std::optional<std::uint64_t> lsn = parse_decimal_u64(text)) {
    return PointArg{true, *lsn, 0};
  }
  if (const std::optional<std::int64_t> ms = parse_iso_time_ms(text)) {
    return PointArg{false, 0, *ms};
  }
  return std::nullopt;
}

CLI::Validator point_validator() { return make_validator(true); }
CLI::Validator time_validator() { return make_validator(false); }

}  // namespace wfstore::tools
