// `wfstore timeline ID --dir D [--at POINT] [--json] [--svg FILE]`: the
// reference's workflow timeline (workflow_timeline over History queries): one
// line per transition and one per stage, its JSON document, or the timeline
// picture written to FILE. Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/history.h"
#include "wfstore/history_projections.h"
#include "wfstore/projections.h"
#include "wfstore/timeline_svg.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/history_print.h"
#include "tools/time_arg.h"
#include "wfstore_internal/atomic_file.h"

namespace wfstore::tools {
namespace {

struct TimelineOptions {
  std::string id;
  std::string dir;
  std::string at;
  std::string svg;
  bool json = false;
};

std::string time_or_dash(const std::optional<std::int64_t>& ms) {
  return ms ? format_time_ms(*ms) : "-";
}

std::string duration_or_dash(const std::optional<std::int64_t>& ms) {
  return ms ? format_duration_ms(*ms) : "-";
}

int run_timeline(const TimelineOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  std::optional<std::uint64_t> to_lsn;
  if (!o.at.empty()) to_lsn = resolve_as_of(history, o.at);
  const WorkflowTimeline timeline = workflow_timeline(history, o.id, to_lsn);
  if (!o.svg.empty()) {
    write_timeline_svg(timeline, o.svg);
    if (!o.json) {
      std::cout << fmt::format(
          "wrote the timeline of {} ({} stages, {} entries, as of lsn {}) to "
          "{}\n",
          o.id, timeline.stages.size(), timeline.entries.size(),
          timeline.last_lsn, o.svg);
      return kExitOk;
    }
  }
  print_timeline(timeline, o.json);
  return kExitOk;
}

}  // namespace

void print_timeline(const WorkflowTimeline& tl, bool json) {
  if (json) {
    std::cout << tl.to_json().dump() << '\n';
    return;
  }
  std::cout << fmt::format("workflow {} \"{}\" ({}): {}{}\n", tl.workflow_id,
                           tl.name, tl.application,
                           status_name(tl.status.value_or(tl.current_status)),
                           tl.status ? "" : " (not finished)");
  std::cout << fmt::format(
      "started {}, ended {}, took {}, {} pauses, as of lsn {}\n",
      time_or_dash(tl.start_ms), time_or_dash(tl.end_ms),
      duration_or_dash(tl.total_duration_ms), tl.paused.size(), tl.last_lsn);
  std::cout << fmt::format("{:>7}  {:<24}  {:<26} {:<32} {:<12} {:>10}  {}\n",
                           "LSN", "TIME", "EVENT", "ENTITY", "STATUS",
                           "DURATION", "DETAILS");
  for (const TimelineEntry& e : tl.entries) {
    const std::string entity =
        e.entity_name ? *e.entity_name + " (" + e.entity_id + ")" : e.entity_id;
    std::cout << fmt::format(
        "{:>7}  {:<24}  {:<26} {:<32} {:<12} {:>10}  {}\n", e.lsn,
        format_time_ms(e.timestamp_ms), e.event_type, truncated(entity, 32),
        e.status ? status_name(*e.status) : "-",
        duration_or_dash(e.duration_ms),
        e.details.empty() ? "" : truncated(e.details.dump(), 60));
  }
  std::cout << "stages:\n";
  for (const StageSpan& s : tl.stages) {
    std::size_t retries = s.retries.size();
    std::size_t dead = s.dead_letters.size();
    for (const TaskSpan& t : s.tasks) {
      retries += t.retries.size();
      dead += t.dead_letters.size();
    }
    std::cout << fmt::format(
        "  {:<28} {:<10} {:<12} {:<24} {:>10}  runs {}, retries {}, dead "
        "letters {}, pauses {}\n",
        truncated((s.parent_stage_id ? "  " : "") + s.name, 28), s.type,
        status_name(s.status), time_or_dash(s.start_ms),
        duration_or_dash(s.duration_ms), s.executions, retries, dead,
        s.paused.size());
  }
}

void write_timeline_svg(const WorkflowTimeline& timeline,
                        const std::filesystem::path& file) {
  const std::filesystem::path parent =
      file.has_parent_path() ? file.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) {
    throw ToolError(kExitNotFound,
                    fmt::format("cannot write {}: directory {} does not exist",
                                file.string(), parent.string()));
  }
  // Whole or not at all: a reader (a browser reloading it) never sees half a
  // picture, and a failed write leaves the old file. Not a private store
  // file: the mode any new file gets (0666 less the umask).
  try {
    write_file_atomically(*posix_file_system(0666), file,
                          parent / ("." + file.filename().string() + ".tmp"),
                          render_timeline_svg(timeline));
  } catch (const IOError& e) {
    throw ToolError(kExitError, fmt::format("cannot write {}: {}",
                                            file.string(), e.what()));
  }
}

void add_timeline_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<TimelineOptions>();
  CLI::App* cmd = app.add_subcommand(
      "timeline",
      "The workflow's timeline: one line per transition (started, completed, "
      "failed, retried, ...) and one per stage; --svg draws it");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_option("--at", o->at,
                  "The timeline as of an LSN or a time (after the whole commit "
                  "it names)")
      ->check(point_validator());
  cmd->add_flag("--json", o->json, "Print the timeline as one JSON document");
  cmd->add_option("--svg", o->svg,
                  "Write the timeline picture (SVG) to this file (replaced "
                  "if it exists)");
  action = [o] { return run_timeline(*o); };
}

}  // namespace wfstore::tools
