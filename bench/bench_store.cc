// `wfstore bench`: the standard workload of bench/workload.md phase by phase,
// each phase checked and set beside the raw loop that bounds it
// (README.md "Performance"), then the queue's push and poll+ack throughput and
// its blocking-poll wake-up latency, commit throughput by thread count and the
// rebuild rate.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/queue.h"

#include "bench/bench.h"
#include "bench/store_bench.h"

namespace wfstore::bench {
namespace {

ModeRun run_mode(const std::filesystem::path& dir, Durability durability,
                 std::uint64_t n, std::uint64_t dedup,
                 std::size_t wakeup_samples) {
  ModeRun run;
  run.durability = durability == Durability::kSync ? "sync" : "buffered";
  const std::filesystem::path store_dir = dir / run.durability;
  Workload w;
  w.n = n;
  w.dedup = dedup;
  for (std::uint64_t k = 0; k < n; ++k)
    w.workflows.push_back(build_workflow(k));
  {
    DatabaseOptions options;
    options.durability = durability;
    auto db = Database::open(store_dir, options);
    {
      Queue queue(*db);
      run.phases = run_phases(*db, queue, w);
      run.page_fault_us = page_fault_us();
      run.wakeup = measure_wakeup_latency(queue, w, wakeup_samples);
    }
    db->close();
  }
  measure_bounds(run.phases, w, dir);
  return run;
}

}  // namespace

int run_store_bench(const StoreBenchOptions& options) {
  const ScratchDir scratch = ScratchDir::make(options.dir, "wfstore-bench");
  std::vector<Durability> modes;
  if (options.durability != "buffered") modes.push_back(Durability::kSync);
  if (options.durability != "sync") modes.push_back(Durability::kBuffered);
  std::vector<ModeRun> runs;
  std::vector<ThreadRun> threads;
  std::optional<StabilizeRun> stabilize;
  try {
    for (Durability mode : modes) {
      runs.push_back(run_mode(scratch.path, mode, options.n, options.dedup,
                              options.wakeup_samples));
      runs.back().rebuild = run_rebuild(scratch.path / runs.back().durability,
                                        scratch.path / "bound-rebuild");
      if (mode == Durability::kSync) {
        threads =
            run_thread_counts(scratch.path / "threads", options.thread_seconds);
      }
    }
    if (options.vs_stabilize) {
      stabilize =
          run_stabilize(options.n, options.dedup, scratch.path / "stabilize");
    }
  } catch (const CheckFailed& e) {
    std::cerr << "wfstore: bench: wrong answer: " << e.what() << "\n";
    return 1;
  }
  if (options.json) {
    print_json(runs, threads, options.n, stabilize ? &*stabilize : nullptr);
  } else {
    print_text(runs, threads, options.n, stabilize ? &*stabilize : nullptr);
  }
  return 0;
}
}  // namespace wfstore::bench
