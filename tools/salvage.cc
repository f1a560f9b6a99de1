// `wfstore salvage --dir D --out DIR [--json]`: copies what can still be read
// of a damaged store (every whole commit up to the first damage it cannot
// pass, hash chain intact, and the whole commits of the side files recovery
// cut off where they continue it) into a new store in DIR, rebuilds its
// views and reports what was lost (salvage_store, docs/history.md#salvage). D is
// never written; a store whose writer is running is refused.
//
// Exit codes: 0 salvaged and nothing was lost; 6 salvaged (DIR holds a
// store that verifies) but events the source shows existed were lost (the
// report names them); 1 --dir is not a store; 2 DIR exists and is not an
// empty directory, or is D, inside it or holds it; 4 D's STORE file is
// damaged; 5 D is locked by a live writer, I/O errors. On 1-5 no store is
// left in DIR.

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
    nlohmann::json doc = salvage_report_to_json(report);
    doc["out"] = o.out;
    std::cout << doc.dump() << '\n';
  } else {
    print_report(o, report);
  }
  return report.nothing_lost() ? kExitOk : kExitSalvageLost;
}

}  // namespace

void add_salvage_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SalvageOptions>();
  CLI::App* cmd = app.add_subcommand(
      "salvage",
      "Copy what can still be read of a damaged store into a new store and "
      "report what was lost (offline: refuses a store whose writer runs; "
      "exit 0: nothing was lost, 6: salvaged with losses)");
  cmd->add_option("--dir", o->dir, "The damaged store (never written)")
      ->required();
  cmd->add_option("--out", o->out,
                  "The new store's directory (missing or empty)")
      ->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  action = [o] { return run_salvage(*o); };
}

}  // namespace wfstore::tools
