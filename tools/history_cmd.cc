// `wfstore history ID --dir D [--json]`: every event of one workflow, one
// line each (LSN, time, actor, type, entity, what changed), or JSON Lines of
// event_to_json documents. Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/history_documents.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/history_print.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct HistoryOptions {
  std::string id;
  std::string dir;
  bool json = false;
};

int run_history(const HistoryOptions& o) {
  auto db = open_store(o.dir);
  print_workflow_history(History(*db), o.id, o.json);
  return kExitOk;
}

}  // namespace

void print_workflow_history(const History& history,
                            const std::string& workflow_id, bool json) {
  require_workflow_events(history, workflow_id);
  for_each_workflow_event(history, workflow_id, [&](const Event& event) {
    if (json) {
      std::cout << event_to_json(event).dump() << '\n';
      return true;
    }
    const EventSummary line = summarize_event(event);
    std::cout << fmt::format(
        "{:>7}  {}  {:<20} {:<24} {:<40} {}\n", event.lsn,
        format_time_ms(event.timestamp_ms),
        event.audit.actor.empty() ? "-" : truncated(event.audit.actor, 20),
        event_type_name(event.type()), truncated(line.entity, 40), line.what);
    return true;
  });
}

void add_history_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<HistoryOptions>();
  CLI::App* cmd = app.add_subcommand(
      "history",
      "Print every event of a workflow: LSN, time, actor, type, entity, what "
      "changed");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json,
                "Print each event as its JSON document (JSON Lines)");
  action = [o] { return run_history(*o); };
}

}  // namespace wfstore::tools
