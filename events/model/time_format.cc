// format_time_ms (wfstore/time_format.h).

#include "wfstore/time_format.h"

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace wfstore {
namespace {

// The date of a day since 1970-01-01 (H. Hinnant's civil_from_days).
void civil_from_days(std::int64_t z, std::int64_t* y, unsigned* m,
                     unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<std::int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

}  // namespace

std::string format_time_ms(std::int64_t time_ms) {
  std::int64_t days = time_ms / 86400000;
  std::int64_t rest = time_ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  civil_from_days(days, &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, m, d,
                     rest / 3600000, rest / 60000 % 60, rest / 1000 % 60,
                     rest % 1000);
}

}  // namespace wfstore
