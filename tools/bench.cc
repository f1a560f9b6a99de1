// `wfstore bench`: the standard workload against its raw bounds, or with --log
// the append-only log against a raw write()+fdatasync loop. The measurements
// live in the bench library (bench/).

#include "bench/bench.h"

#include <memory>

#include "tools/commands.h"

namespace wfstore::tools {

void add_bench_command(CLI::App& app, Action& action) {
  CLI::App* cmd =
      app.add_subcommand("bench", "Measure wfstore against raw loops");
  auto o = std::make_shared<bench::LogBenchOptions>();
  auto log_flag = std::make_shared<bool>(false);
  auto store = std::make_shared<bench::StoreBenchOptions>();
  cmd->add_flag("--log", *log_flag,
                "Benchmark the append-only log instead of the workload");
  cmd->add_option("--n", store->n, "Workflows of the standard workload")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--durability", store->durability,
                  "sync, buffered or both (sync first)")
      ->check(CLI::IsMember({"sync", "buffered", "both"}));
  cmd->add_flag("--json", store->json, "Print one JSON document");
  cmd->add_option("--thread-seconds", store->thread_seconds,
                  "Seconds per thread count of the commit-throughput run")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--wakeup-samples", store->wakeup_samples,
                  "Samples of the blocking-poll wake-up latency")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dir", store->dir,
                  "Directory to run in (a scratch subdirectory is made; "
                  "default: the temporary directory, or . for --log)");
  cmd->add_option("--seconds", o->seconds, "Seconds per measurement")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--body-bytes", o->body_bytes, "Commit body size");
  action = [o, log_flag, store] {
    if (!*log_flag) return bench::run_store_bench(*store);
    if (!store->dir.empty()) o->dir = store->dir;
    return bench::run_log_bench(*o);
  };
}

}  // namespace wfstore::tools
