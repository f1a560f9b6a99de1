// `wfstore salvage --dir D --out DIR [--json]`: copies what can still be read
// of a damaged store (every whole commit up to the first damage it cannot
// pass, hash chain intact, and the whole commits of the side files recovery
// cut off where they continue it) into a new store in DIR, rebuilds its
// views and reports what was lost (salvage_store, docs/salvage.md). D is
// never written; a store whose writer is running is refused.
//
// Exit codes: 0 salvaged, with losses (the report names them); 6 salvaged
// and nothing was lost; 1 --dir is not a store; 2 DIR exists and is not
// empty, or is D or inside it; 5 D is locked by a live writer.

#include "wfstore/salvage.h"

#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct SalvageOptions {
  std::string dir;
  std::string out;
  bool json = false;
};

// Damage lines printed in the table (the JSON has them all).
constexpr std::size_t kDamageLines = 20;

nlohmann::json report_to_json(const SalvageOptions& o, const SalvageReport& r) {
  nlohmann::json lost = nlohmann::json::array();
  for (const LostRange& l : r.lost) {
    lost.push_back({{"first_lsn", l.first_lsn},
                    {"last_lsn", l.last_lsn},
                    {"readable", l.readable},
                    {"commits", l.commits}});
  }
  nlohmann::json workflows = nlohmann::json::array();
  for (const LostWorkflow& w : r.workflows) {
    workflows.push_back({{"workflow_id", w.workflow_id},
                         {"events", w.events},
                         {"first_lsn", w.first_lsn},
                         {"last_lsn", w.last_lsn},
                         {"known_from", w.known_from}});
  }
  nlohmann::json evidence = nlohmann::json::object();
  for (const LsnEvidence& e : r.evidence) evidence[e.source] = e.lsn;
  nlohmann::json damages = nlohmann::json::array();
  for (const SalvageDamage& d : r.damages) {
    damages.push_back({{"file", d.file},
                       {"offset", d.offset},
                       {"bytes", d.bytes},
                       {"reason", d.reason}});
  }
  return {{"out", o.out},
          {"nothing_lost", r.nothing_lost()},
          {"store_id", r.store_id},
          {"source_store_id", r.source_store_id},
          {"last_lsn", r.last_lsn},
          {"head_hash", r.head_hash},
          {"commits", r.commits},
          {"events", r.events},
          {"commits_from_side_files", r.commits_from_side_files},
          {"side_files_used", r.side_files_used},
          {"side_files", r.side_files},
          {"stop_reason", r.stop_reason},
          {"highest_known_lsn", r.highest_known_lsn},
          {"evidence", evidence},
          {"lost", lost},
          {"lost_events", r.lost_events},
          {"workflows", workflows},
          {"workflows_complete", r.workflows_complete},
          {"lost_events_without_workflow", r.lost_events_without_workflow},
          {"discarded_commits", r.discarded_commits},
          {"segments", r.segments},
          {"segments_skipped", r.segments_skipped},
          {"foreign_segments", r.foreign_segments},
          {"source_bytes", r.source_bytes},
          {"bytes_lost", r.bytes_lost},
          {"damages", damages},
          {"segments_written", r.segments_written},
          {"bytes_written", r.bytes_written},
          {"seconds", r.seconds}};
}

std::string join(const std::vector<std::string>& items) {
  return items.empty() ? "none" : fmt::format("{}", fmt::join(items, ", "));
}

void print_report(const SalvageOptions& o, const SalvageReport& r) {
  std::cout << fmt::format(
      "salvaged {} into {}\n"
      "  new store id:  {}\n"
      "  salvage of:    {}\n",
      o.dir, o.out, r.store_id, r.source_store_id);
  if (r.commits == 0) {
    std::cout << "  salvaged:      nothing (no whole commit holds lsn 1)\n";
  } else {
    std::cout << fmt::format(
        "  salvaged:      lsn 1..{} ({} commits, {} events), head hash {}\n",
        r.last_lsn, r.commits, r.events, r.head_hash);
  }
  if (r.commits_from_side_files > 0) {
    std::cout << fmt::format("  side files:    {} commits from {}\n",
                             r.commits_from_side_files,
                             join(r.side_files_used));
  }
  std::cout << fmt::format("  stopped:       {}\n", r.stop_reason);
  std::string evidence;
  for (const LsnEvidence& e : r.evidence) {
    evidence +=
        fmt::format("{}{} {}", evidence.empty() ? "" : ", ", e.source, e.lsn);
  }
  std::cout << fmt::format("  highest known: lsn {} ({})\n",
                           r.highest_known_lsn,
                           evidence.empty() ? "no evidence" : evidence);
  if (r.nothing_lost()) {
    std::cout << "  lost:          nothing: every lsn the source shows "
                 "existed was salvaged\n";
  } else {
    for (std::size_t i = 0; i < r.lost.size(); ++i) {
      const LostRange& l = r.lost[i];
      std::cout << fmt::format(
          "  {}lsn {}..{} {}\n", i == 0 ? "lost:          " : "               ",
          l.first_lsn, l.last_lsn,
          l.readable ? fmt::format("(read past the damage: {} whole commits, "
                                   "not copied)",
                                   l.commits)
                     : "(unreadable)");
    }
    std::cout << fmt::format("  lost events:   {}\n", r.lost_events);
    for (std::size_t i = 0; i < r.workflows.size(); ++i) {
      const LostWorkflow& w = r.workflows[i];
      std::cout << fmt::format("  {}{} ({} events, lsn {}..{}, from {})\n",
                               i == 0 ? "workflows:     " : "               ",
                               w.workflow_id, w.events, w.first_lsn, w.last_lsn,
                               w.known_from);
    }
    if (r.workflows.empty()) {
      std::cout << "  workflows:     none known\n";
    }
    if (!r.workflows_complete) {
      std::cout << "                 (incomplete: some lost lsns could not "
                   "be read from the log or the views)\n";
    }
  }
  std::cout << fmt::format(
      "  segments:      {} in the source ({} bytes), skipped: {}; bytes "
      "lost: {}\n",
      r.segments.size(), r.source_bytes, join(r.segments_skipped),
      r.bytes_lost);
  for (std::size_t i = 0; i < r.damages.size() && i < kDamageLines; ++i) {
    const SalvageDamage& d = r.damages[i];
    std::cout << fmt::format("  {}{} offset {} ({} bytes): {}\n",
                             i == 0 ? "damage:        " : "               ",
                             d.file, d.offset, d.bytes, d.reason);
  }
  if (r.damages.size() > kDamageLines) {
    std::cout << fmt::format("                 ... {} more (--json has all)\n",
                             r.damages.size() - kDamageLines);
  }
  std::cout << fmt::format(
      "  written:       {} segments, {} bytes, views rebuilt ({:.3f} s)\n",
      r.segments_written, r.bytes_written, r.seconds);
}

int run_salvage(const SalvageOptions& o) {
  require_store(o.dir);
  progress(fmt::format("wfstore: salvaging {} into {} ...", o.dir, o.out));
  const SalvageReport report = salvage_store(o.dir, o.out);
  if (o.json) {
    std::cout << report_to_json(o, report).dump() << '\n';
  } else {
    print_report(o, report);
  }
  return report.nothing_lost() ? kExitNothingLost : kExitOk;
}

}  // namespace

void add_salvage_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SalvageOptions>();
  CLI::App* cmd = app.add_subcommand(
      "salvage",
      "Copy what can still be read of a damaged store into a new store and "
      "report what was lost (offline: refuses a store whose writer runs; "
      "exit 0: salvaged with losses, 6: nothing was lost)");
  cmd->add_option("--dir", o->dir, "The damaged store (never written)")
      ->required();
  cmd->add_option("--out", o->out,
                  "The new store's directory (missing or empty)")
      ->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_salvage(*o); };
}

}  // namespace wfstore::tools
