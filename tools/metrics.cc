// `wfstore metrics --dir D [--workflow ID] [--at POINT] [--json]`: the
// reference's stage metrics (stage_metrics over History queries): per stage
// type and per task name the runs, successes, failures, skips, retries,
// success rate and durations (avg, min, max, p95), the slowest and most
// failing stage types; or one JSON document. Read-only.

#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/history.h"
#include "wfstore/history_projections.h"
#include "wfstore/projections.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct MetricsOptions {
  std::string dir;
  std::string workflow;
  std::string at;
  bool json = false;
};

void print_table(const std::string& title,
                 const std::map<std::string, EntityMetrics>& rows) {
  std::cout << fmt::format(
      "{:<28} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8}\n",
      title, "runs", "ok", "failed", "skipped", "retries", "success%", "avg ms",
      "min ms", "max ms", "p95 ms");
  for (const auto& [key, m] : rows) {
    std::cout << fmt::format(
        "{:<28} {:>6} {:>6} {:>6} {:>7} {:>7} {:>8.2f} {:>9.1f} {:>8} {:>8} "
        "{:>8.0f}\n",
        truncated(key, 28), m.execution_count, m.success_count, m.failure_count,
        m.skip_count, m.retry_count, m.success_rate(), m.avg_duration_ms(),
        m.min_duration_ms(), m.max_duration_ms(), m.p95_duration_ms());
  }
}

std::string ranking(const std::vector<std::pair<std::string, double>>& top,
                    const char* unit) {
  std::string out;
  for (const auto& [key, value] : top) {
    out +=
        fmt::format("{}{} {:.2f}{}", out.empty() ? "" : ", ", key, value, unit);
  }
  return out.empty() ? "-" : out;
}

int run_metrics(const MetricsOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  MetricsQuery query;
  if (!o.workflow.empty()) query.workflow_id = o.workflow;
  if (!o.at.empty()) query.to_lsn = resolve_point(history, o.at);
  const StageMetricsProjection metrics = stage_metrics(history, query);
  if (o.json) {
    std::cout << metrics.to_json().dump() << '\n';
    return kExitOk;
  }
  std::cout << fmt::format("{} events read, as of lsn {}\n",
                           metrics.events_applied(), metrics.last_lsn());
  print_table("STAGE TYPE", metrics.stages());
  std::cout << '\n';
  print_table("TASK NAME", metrics.tasks());
  std::cout << "\nslowest stage types (avg): "
            << ranking(metrics.top_slowest_stages(), " ms") << '\n';
  std::cout << "most failing stage types: "
            << ranking(metrics.top_failing_stages(), "%") << '\n';
  return kExitOk;
}

}  // namespace

void add_metrics_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<MetricsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "metrics",
      "Stage and task metrics: runs, successes, failures, skips, retries, "
      "success rate, durations (avg, min, max, p95)");
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_option("--workflow", o->workflow, "One workflow's events only");
  cmd->add_option("--at", o->at, "The metrics as of an LSN or a time")
      ->check(point_validator());
  cmd->add_flag("--json", o->json, "Print the metrics as one JSON document");
  action = [o] { return run_metrics(*o); };
}

}  // namespace wfstore::tools
