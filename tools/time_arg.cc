// The CLI11 validators of LSN and time arguments (the parsing is
// wfstore/history_documents.h's).

#include "tools/time_arg.h"

#include <string>

#include <fmt/format.h>

namespace wfstore::tools {
namespace {

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

CLI::Validator point_validator() { return make_validator(true); }
CLI::Validator time_validator() { return make_validator(false); }

}  // namespace wfstore::tools
