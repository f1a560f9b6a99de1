// Registration of the wfstore subcommands. Each subcommand lives in its own
// file and adds itself to the CLI11 app; run_selected() runs the one that was
// parsed.

#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace wfstore::tools {

// A parsed subcommand's action: returns the process exit code.
using Action = std::function<int()>;

// Adds every subcommand to `app`.
void register_commands(CLI::App& app);
// Runs the action of the parsed subcommand. Throws what the action throws.
int run_selected(const CLI::App& app);

// Per-subcommand registration, one per file.
void add_demo_command(CLI::App& app, Action& action);
void add_verify_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_rebuild_command(CLI::App& app, Action& action);
void add_log_command(CLI::App& app, Action& action);
void add_show_command(CLI::App& app, Action& action);
void add_diff_command(CLI::App& app, Action& action);
void add_history_command(CLI::App& app, Action& action);
void add_fork_command(CLI::App& app, Action& action);
void add_stats_command(CLI::App& app, Action& action);
void add_export_command(CLI::App& app, Action& action);
void add_import_command(CLI::App& app, Action& action);
void add_salvage_command(CLI::App& app, Action& action);
void add_timeline_command(CLI::App& app, Action& action);
void add_metrics_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
#ifdef WFSTORE_WITH_KAFKA
// tools/kafka_stream_cmd.cc.
void add_stream_command(CLI::App& app, Action& action);
void add_kafka_mock_command(CLI::App& app, Action& action);
// tools/kafka_consume_cmd.cc.
void add_consume_command(CLI::App& app, Action& action);
void add_replicate_command(CLI::App& app, Action& action);
#endif

}  // namespace wfstore::tools
