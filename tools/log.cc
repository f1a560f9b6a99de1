// `wfstore log --dir D [--json] [--after LSN] [--limit N]`: prints the events
// of a store's log in LSN order, one line each (with --json, each event's
// JSON document: JSON Lines). Read-only; takes no lock, so a live writer may
// go on.

#include <charconv>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "wfstore/event.h"
#include "wfstore/history.h"

#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct LogOptions {
  std::string dir;
  bool json = false;
  std::uint64_t after = 0;
  std::uint64_t limit = 0;  // 0: every event
};

int run_log(const LogOptions& o) {
  std::uint64_t printed = 0;
  for_each_event(
      o.dir, o.after,
      [&](const Event& event) {
        if (o.json) {
          std::cout << event_to_json(event).dump() << '\n';
        } else {
          std::cout << fmt::format(
              "lsn={} commit={} timestamp={} type={} workflow_id={} "
              "actor={} payload={}\n",
              event.lsn, event.commit_id, event.timestamp_ms,
              event_type_name(event.type()), event.workflow_id,
              event.audit.actor, payload_to_json(event.payload).dump());
        }
        ++printed;
        return o.limit == 0 || printed < o.limit;
      },
      [](LogLevel level, std::string_view message) {
        std::cerr << "wfstore: " << log_level_name(level) << ": " << message
                  << '\n';
      });
  return 0;
}

// A decimal number of `min`..2^64-1, rewritten without leading zeros: CLI11
// itself reads "-1" as 2^64-1, an overflow as 2^64-1, "0x10" as hex and "010"
// as octal.
CLI::Validator decimal_u64(std::uint64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || error != std::errc() || stop != end ||
            value < min) {
          return fmt::format("{} is not a decimal number of {}..{}", text, min,
                             UINT64_MAX);
        }
        text = std::to_string(value);
        return "";
      },
      "");
}

}  // namespace

void add_log_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<LogOptions>();
  CLI::App* cmd = app.add_subcommand(
      "log", "Print a store's events in LSN order, one line each");
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json,
                "Print each event as its JSON document (JSON Lines)");
  cmd->add_option("--after", o->after, "Print only events after this LSN")
      ->transform(decimal_u64(0));
  cmd->add_option("--limit", o->limit, "Print at most this many events")
      ->transform(decimal_u64(1));
  action = [o] { return run_log(*o); };
}

}  // namespace wfstore::tools
