// `wfstore diff ID FROM TO --dir D [--json]`: what changed in one workflow
// between two points in history (each an LSN or a time): one line per
// changed field with the event that changed it, or one JSON document.
// Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "wfstore/history.h"
#include "wfstore/history_documents.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/history_print.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct DiffOptions {
  std::string id;
  std::string from;
  std::string to;
  std::string dir;
  bool json = false;
};

// A value for people: strings bare, absent as "(none)", cut at 40.
std::string shown(const nlohmann::json& value) {
  if (value.is_null()) return "(none)";
  if (value.is_string()) return truncated(value.get<std::string>(), 40);
  return truncated(value.dump(), 40);
}

int run_diff(const DiffOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  const std::uint64_t from = resolve_point(history, o.from);
  const std::uint64_t to = resolve_point(history, o.to);
  if (from > to) {
    throw ToolError(
        kExitUsage,
        fmt::format("FROM (lsn {}) is after TO (lsn {})", from, to));
  }
  require_workflow_events(history, o.id);
  print_diff(history.diff(o.id, from, to), o.json);
  return kExitOk;
}

}  // namespace

void print_diff(const WorkflowDiff& diff, bool json) {
  if (json) {
    std::cout << diff_document(diff).dump() << '\n';
    return;
  }
  std::cout << fmt::format("workflow {}: lsn {} -> {}, {} changes\n",
                           diff.workflow_id, diff.from_lsn, diff.to_lsn,
                           diff.changes.size());
  for (const FieldChange& change : diff.changes) {
    std::cout << fmt::format(
        "  {:<40} {:<14} {} -> {}  (lsn {} {} {} {})\n",
        truncated(entity_text(change.entity), 40),
        change.field.empty() ? "(whole)" : change.field, shown(change.before),
        shown(change.after), change.lsn, format_time_ms(change.timestamp_ms),
        change.audit.actor.empty() ? "-" : change.audit.actor,
        event_type_name(change.type));
  }
}

void add_diff_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<DiffOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diff", "Print what changed in a workflow between two points in history");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("from", o->from,
                  "From this point: " + std::string(kPointForms))
      ->required()
      ->check(point_validator());
  cmd->add_option("to", o->to, "To this point (LSN or time)")
      ->required()
      ->check(point_validator());
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_diff(*o); };
}

}  // namespace wfstore::tools
