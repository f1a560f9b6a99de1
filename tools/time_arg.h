// The points in history that the tool's arguments name (`--at`, `--from`,
// `--since`, diff's FROM and TO): an LSN as a bare decimal number, or a time
// as ISO-8601 with a zone; and times printed as ISO-8601 UTC.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "wfstore/history_documents.h"
#include "wfstore/time_format.h"

namespace wfstore::tools {

// The points' parsing lives with the documents that use it
// (wfstore/history_documents.h); the tool names it as it always did.
using wfstore::kPointForms;
using wfstore::parse_decimal_u64;
using wfstore::parse_iso_time_ms;
using wfstore::parse_point;
using wfstore::PointArg;

// A CLI11 validator accepting what parse_point() parses; its message names
// the accepted forms (a usage error, exit 2).
CLI::Validator point_validator();
// As point_validator() for times only (parse_iso_time_ms()).
CLI::Validator time_validator();

// "2026-12-05T10:00:00.123Z": `time_ms` in UTC with milliseconds.
using wfstore::format_time_ms;

}  // namespace wfstore::tools
