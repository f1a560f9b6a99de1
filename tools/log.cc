// `wfstore log --dir D [--json] [--after LSN] [--limit N]`: prints the events
// of a store's log in LSN order, one line each (with --json, each event's
// JSON document: JSON Lines). Read-only; takes no lock, so a live writer may
// go on.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

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

}  // namespace

void add_log_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<LogOptions>();
  CLI::App* cmd = app.add_subcommand(
      "log", "Print a store's events in LSN order, one line each");
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json,
                "Print each event as its JSON document (JSON Lines)");
  cmd->add_option("--after", o->after, "Print only events after this LSN");
  cmd->add_option("--limit", o->limit, "Print at most this many events")
      ->check(CLI::PositiveNumber);
  action = [o] { return run_log(*o); };
}

}  // namespace wfstore::tools
