// Times as people read them: epoch milliseconds as ISO-8601 UTC.
//
// Thread-safety: pure functions.

#pragma once

#include <cstdint>
#include <string>

namespace wfstore {

// "2026-12-05T10:00:00.123Z": `time_ms` (epoch milliseconds) in UTC with
// milliseconds, in the proleptic Gregorian calendar; any int64 (a year
// beyond 9999 has more digits, one before 0 a sign).
std::string format_time_ms(std::int64_t time_ms);

}  // namespace wfstore
