// The table of subcommands.

#include "tools/commands.h"

#include <map>
#include <string>

#include "tools/cli_support.h"

namespace wfstore::tools {
namespace {

std::map<std::string, Action>& actions() {
  static std::map<std::string, Action> table;
  return table;
}

}  // namespace

void register_commands(CLI::App& app) {
  add_demo_command(app, actions()["demo"]);
  add_verify_command(app, actions()["verify"]);
  add_bench_command(app, actions()["bench"]);
  add_rebuild_command(app, actions()["rebuild"]);
  add_log_command(app, actions()["log"]);
  add_show_command(app, actions()["show"]);
  add_diff_command(app, actions()["diff"]);
  add_history_command(app, actions()["history"]);
  add_fork_command(app, actions()["fork"]);
  add_stats_command(app, actions()["stats"]);
  add_export_command(app, actions()["export"]);
  add_import_command(app, actions()["import"]);
  add_salvage_command(app, actions()["salvage"]);
  add_timeline_command(app, actions()["timeline"]);
  add_metrics_command(app, actions()["metrics"]);
  add_serve_command(app, actions()["serve"]);
#ifdef WFSTORE_WITH_KAFKA
  add_stream_command(app, actions()["stream"]);
  add_kafka_mock_command(app, actions()["kafka-mock"]);
  add_consume_command(app, actions()["consume"]);
  add_replicate_command(app, actions()["replicate"]);
#endif
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->footer(std::string(kExitCodesHelp));
  }
}

int run_selected(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    auto it = actions().find(sub->get_name());
    if (it != actions().end() && it->second) return it->second();
  }
  return kExitUsage;
}

}  // namespace wfstore::tools
