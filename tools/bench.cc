// `wfstore bench`: the standard workload against its raw bounds, with --log
// the append-only log against a raw write()+fdatasync loop, or with --history
// the history API against the raw reads that bound it, or with --kafka the
// export, consumer and replica against a plain producer and a rebuild, or
// with --viewer the viewer's API latency and its cost to a writer, or with
// --scale whether costs stay flat as the store grows. The measurements
// live in the bench library (bench/).

#include "bench/bench.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "tools/commands.h"
#include "tools/viewer_bench.h"
#ifdef WFSTORE_WITH_KAFKA
#include "tools/kafka_bench.h"
#endif

namespace wfstore::tools {

void add_bench_command(CLI::App& app, Action& action) {
  CLI::App* cmd =
      app.add_subcommand("bench", "Measure wfstore against raw loops");
  auto o = std::make_shared<bench::LogBenchOptions>();
  auto log_flag = std::make_shared<bool>(false);
  auto store = std::make_shared<bench::StoreBenchOptions>();
  auto history_flag = std::make_shared<bool>(false);
  auto history = std::make_shared<bench::HistoryBenchOptions>();
  CLI::Option* log_opt =
      cmd->add_flag("--log", *log_flag,
                    "Benchmark the append-only log instead of the workload");
  CLI::Option* history_opt = cmd->add_flag(
      "--history", *history_flag,
      "Benchmark the history API (queries, as-of, fork, export) and "
      "subscriptions (delivery latency, catch-up, commit cost)");
  cmd->add_option("--history-events", history->events,
                  "Events of the --history store (default 200000)")
      ->check(CLI::Range(std::uint64_t{1100}, std::uint64_t{100000000}));
  cmd->add_option("--history-workflow-events", history->workflow_events,
                  "Events of the --history workflow of show --at and export")
      ->check(CLI::Range(std::uint64_t{2}, std::uint64_t{10000000}));
  cmd->add_option("--history-samples", history->samples,
                  "Most samples per --history latency figure")
      ->check(CLI::PositiveNumber);
  auto viewer_flag = std::make_shared<bool>(false);
  auto viewer = std::make_shared<ViewerBenchOptions>();
  CLI::Option* viewer_opt = cmd->add_flag(
      "--viewer", *viewer_flag,
      "Benchmark the viewer (wfstore serve): the workflow page's and "
      "the list's API latency, and the writer's commit rate with "
      "and without a viewer following live");
  cmd->add_option("--viewer-events", viewer->workflow_events,
                  "Events of the --viewer workflow (default 10000)")
      ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{10000000}));
  cmd->add_option("--viewer-workflows", viewer->workflows,
                  "Workflows of the --viewer store (default 10000)")
      ->check(CLI::Range(std::uint64_t{2}, std::uint64_t{10000000}));
  cmd->add_option("--viewer-samples", viewer->samples,
                  "Most samples per --viewer latency figure")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--viewer-seconds", viewer->commit_seconds,
                  "Seconds of each --viewer commit-rate run")
      ->check(CLI::PositiveNumber);
#ifdef WFSTORE_WITH_KAFKA
  auto kafka_flag = std::make_shared<bool>(false);
  auto kafka = std::make_shared<KafkaBenchOptions>();
  CLI::Option* kafka_opt =
      cmd->add_flag("--kafka", *kafka_flag,
                    "Benchmark the Kafka export, consumer latency and replica "
                    "fold against an in-process mock cluster");
  cmd->add_option("--kafka-events", kafka->events,
                  "Events of the --kafka store (default 100000)")
      ->check(CLI::Range(std::uint64_t{1000}, std::uint64_t{10000000}));
  cmd->add_option("--kafka-samples", kafka->latency_samples,
                  "Commit-to-consumer latency samples of --kafka")
      ->check(CLI::PositiveNumber);
#endif
  auto scale_flag = std::make_shared<bool>(false);
  auto scale = std::make_shared<bench::ScaleBenchOptions>();
  CLI::Option* scale_opt = cmd->add_flag(
      "--scale", *scale_flag,
      "Benchmark flat cost at scale: the workload's phases at --n "
      "and at --scale-n workflows, a poll among --scale-leases "
      "expired leases, resident memory over --scale-events events");
  std::vector<CLI::Option*> scale_only;
  scale_only.push_back(
      cmd->add_option("--scale-n", scale->large_n,
                      "Workflows of the --scale large run (default 100000)"));
  scale_only.back()->check(CLI::PositiveNumber);
  scale_only.push_back(
      cmd->add_option("--scale-leases", scale->leases,
                      "Expired leases of the --scale poll (default 100000)"));
  scale_only.back()->check(CLI::PositiveNumber);
  scale_only.push_back(
      cmd->add_option("--scale-events", scale->rss_events,
                      "Events of the --scale memory run (default 10000000; it "
                      "grows by 1100)"));
  scale_only.back()->check(
      CLI::Range(std::uint64_t{11000}, std::uint64_t{1000000000}));
  cmd->add_option("--n", store->n, "Workflows of the standard workload")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dedup", store->dedup,
                  "Message ids of the dedup phases (default 10000)")
      ->check(CLI::PositiveNumber);
  CLI::Option* durability_opt =
      cmd->add_option("--durability", store->durability,
                      "sync, buffered or both (sync first)")
          ->check(CLI::IsMember({"sync", "buffered", "both"}));
  cmd->add_flag("--json", store->json, "Print one JSON document");
  CLI::Option* vs_opt =
      cmd->add_flag("--vs-stabilize", store->vs_stabilize,
                    "Also run stabilize's SqliteWorkflowStore (WAL) on the "
                    "workload and print each phase beside it");
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
  // One benchmark per run: the mode flags exclude each other, and --scale
  // (buffered only, no stabilize run) the options it would ignore.
  std::vector<CLI::Option*> modes = {log_opt, history_opt, viewer_opt,
                                     scale_opt};
#ifdef WFSTORE_WITH_KAFKA
  modes.push_back(kafka_opt);
#endif
  for (CLI::Option* a : modes) {
    for (CLI::Option* b : modes) {
      if (a != b) a->excludes(b);
    }
  }
  scale_opt->excludes(durability_opt);
  scale_opt->excludes(vs_opt);
  for (CLI::Option* option : scale_only) option->needs(scale_opt);
  action = [=] {
    if (*viewer_flag) {
      viewer->dir = store->dir;
      viewer->json = store->json;
      return run_viewer_bench(*viewer);
    }
#ifdef WFSTORE_WITH_KAFKA
    if (*kafka_flag) {
      kafka->dir = store->dir;
      kafka->json = store->json;
      return run_kafka_bench(*kafka);
    }
#endif
    if (*scale_flag) {
      scale->small_n = store->n;
      scale->dedup = store->dedup;
      scale->dir = store->dir;
      scale->json = store->json;
      return bench::run_scale_bench(*scale);
    }
    if (*history_flag) {
      history->dir = store->dir;
      history->json = store->json;
      return bench::run_history_bench(*history);
    }
    if (!*log_flag) return bench::run_store_bench(*store);
    if (!store->dir.empty()) o->dir = store->dir;
    return bench::run_log_bench(*o);
  };
}

}  // namespace wfstore::tools
