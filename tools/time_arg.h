// The points in history that the tool's arguments name (`--at`, `--from`,
// `--since`, diff's FROM and TO): an LSN as a bare decimal number, or a time
// as ISO-8601 with a zone; and times printed as ISO-8601 UTC.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "wfstore/time_format.h"

namespace wfstore {
class History;
}  // namespace wfstore

namespace wfstore::tools {

// A point in history as an argument names it: an LSN or a time.
struct PointArg {
  bool is_lsn = true;
  std::uint64_t lsn = 0;     // when is_lsn
  std::int64_t time_ms = 0;  // epoch milliseconds, when !is_lsn
};

// The forms a point argument takes, for messages and --help.
inline constexpr std::string_view kPointForms =
    "an LSN (a decimal number, e.g. 42) or an ISO-8601 time with a zone "
    "(2026-12-05T10:00:00Z, 2026-12-05T10:00:00.123Z, "
    "2026-12-05T10:00:00+01:00; a space may replace the T)";

// Parses a decimal number of 0..2^64-1 (digits only: no sign, no base
// prefix; leading zeros are decimal). nullopt for anything else.
std::optional<std::uint64_t> parse_decimal_u64(std::string_view text);

// Parses an ISO-8601 time with a zone: YYYY-MM-DD, 'T' or a space,
// HH:MM:SS, optionally '.' and 1 to 9 fraction digits (below a millisecond
// dropped), then 'Z' or +HH:MM / -HH:MM. Returns epoch milliseconds, or
// nullopt for anything else (no zone, a date or field out of range, another
// layout).
std::optional<std::int64_t> parse_iso_time_ms(std::string_view text);

// Parses a point: a bare decimal number is an LSN, else an ISO-8601 time as
// parse_iso_time_ms() reads it. nullopt for anything else.
std::optional<PointArg> parse_point(std::string_view text);

// A CLI11 validator accepting what parse_point() parses; its message names
// the accepted forms (a usage error, exit 2).
CLI::Validator point_validator();
// As point_validator() for times only (parse_iso_time_ms()).
CLI::Validator time_validator();

// "2026-12-05T10:00:00.123Z": `time_ms` in UTC with milliseconds.
using wfstore::format_time_ms;

}  // namespace wfstore::tools
