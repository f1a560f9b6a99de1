// The report of `wfstore bench`: the machine, then per durability mode each
// phase with its bound, ratio and gate, the wake-up latency and the rebuild,
// then the commit throughput by thread count; as text lines or one JSON
// document.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sched.h>

#include "bench/store_bench.h"

#ifndef WFSTORE_VERSION
#define WFSTORE_VERSION "unknown"
#endif

namespace wfstore::bench {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        return line.substr(line.find_first_not_of(' ', colon + 1));
      }
    }
  }
  return "unknown";
}

int nproc() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

double thread_scaling(const std::vector<ThreadRun>& runs) {
  return runs.back().rate() / runs.front().rate();
}

// Goal 3: 16 committing threads at least 8x one thread, or at least 0.5 x
// min(cores / CPU time per buffered commit, 16 x raw fdatasyncs per second).
// The commit is the thread run's (mark_message_processed): its CPU time is the
// buffered dedup_mark phase's, its raw fdatasync rate the sync dedup_mark
// phase's bound (write + fdatasync of the same record size). The second form
// needs both modes' runs; `computed` is false without them.
struct GoalThree {
  double scaling = 0;
  bool computed = false;
  double cpu_bound = 0;   // cores / CPU seconds per buffered commit
  double sync_bound = 0;  // 16 x raw fdatasyncs per second
  double goal = 0;        // 0.5 x min(cpu_bound, sync_bound)
  double rate16 = 0;
  bool met = false;
};

const Phase* find_phase(const std::vector<ModeRun>& modes,
                        std::string_view durability, std::string_view name) {
  for (const ModeRun& mode : modes) {
    if (mode.durability != durability) continue;
    for (const Phase& p : mode.phases) {
      if (p.name == name) return &p;
    }
  }
  return nullptr;
}

GoalThree goal_three(const std::vector<ModeRun>& modes,
                     const std::vector<ThreadRun>& threads) {
  GoalThree g;
  g.scaling = thread_scaling(threads);
  g.rate16 = threads.back().rate();
  const Phase* buffered = find_phase(modes, "buffered", "dedup_mark");
  const Phase* sync = find_phase(modes, "sync", "dedup_mark");
  if (buffered != nullptr && sync != nullptr && buffered->cpu_seconds > 0 &&
      buffered->n > 0 && sync->bound > 0) {
    g.computed = true;
    g.cpu_bound =
        nproc() * static_cast<double>(buffered->n) / buffered->cpu_seconds;
    g.sync_bound = 16 * sync->bound;
    g.goal = 0.5 * std::min(g.cpu_bound, g.sync_bound);
  }
  g.met = g.scaling >= 8 || (g.computed && g.rate16 >= g.goal);
  return g;
}

// Which of goal 1's two targets a phase reaches: "10x_stabilize",
// "0.7_bound", "both" or "none" (for ancestors only the first counts).
std::string meets(const GoalOne& g) {
  const bool bound = g.bound_counts && g.meets_bound;
  if (g.meets_stabilize && bound) return "both";
  if (g.meets_stabilize) return "10x_stabilize";
  return bound ? "0.7_bound" : "none";
}

// Per phase of each mode: ours beside stabilize's WAL figure and the bound;
// in buffered mode, goal 1 and whether the phase meets it.
void print_vs_stabilize(const std::vector<ModeRun>& modes,
                        const StabilizeRun& stabilize) {
  std::cout << fmt::format("# stabilize {}\n", stabilize.about);
  for (const StabilizePhase& p : stabilize.phases) {
    std::cout << fmt::format(
        "# stabilize_wal phase={} n={} seconds={:.3f} ops_per_sec={:.0f} "
        "cpu_us_per_op={:.1f}\n",
        p.name, p.n, p.seconds, p.ops_per_sec, p.cpu_us_per_op);
  }
  for (const ModeRun& mode : modes) {
    std::vector<std::string> missed;
    int judged = 0;
    for (const Phase& p : mode.phases) {
      const StabilizePhase* theirs = stabilize.find(p.name);
      if (theirs == nullptr) continue;
      const GoalOne g = goal_one(p, *theirs);
      std::string line = fmt::format(
          "# vs_stabilize durability={} phase={} ops_per_sec={:.0f} "
          "stabilize_wal={:.0f} x_stabilize={:.2f} ratio_bound={:.2f} "
          "cpu_us_per_op={:.1f} stabilize_cpu_us_per_op={:.1f}",
          mode.durability, p.name, p.ops_per_sec(), theirs->ops_per_sec,
          g.x_stabilize, p.ratio(), p.cpu_us_per_op(), theirs->cpu_us_per_op);
      if (mode.durability == "buffered") {
        ++judged;
        if (!g.met) missed.push_back(p.name);
        line += fmt::format(
            " goal1={:.0f} goal1_of={} meets={} goal1_result={}", g.goal,
            !g.bound_counts || g.stabilize_goal <= g.bound_goal
                ? "10x_stabilize"
                : "0.7_bound",
            meets(g), g.met ? "pass" : "FAIL");
      }
      std::cout << line << "\n";
    }
    if (mode.durability == "buffered") {
      std::string list;
      for (const std::string& name : missed)
        list += (list.empty() ? "" : ",") + name;
      std::cout << fmt::format(
          "# goal1 durability=buffered met={}/{} missed={}\n",
          judged - static_cast<int>(missed.size()), judged,
          list.empty() ? "-" : list);
    }
  }
}

}  // namespace

void print_text(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n,
                const StabilizeRun* stabilize) {
  std::cout << fmt::format("# wfstore {} bench, standard workload N={}\n",
                           WFSTORE_VERSION, n);
  std::cout << fmt::format("# machine: nproc={} cpu=\"{}\" loadavg=\"{}\"\n",
                           nproc(), cpu_model(), load_average());
  for (const ModeRun& mode : modes) {
    std::cout << fmt::format("# durability={}\n", mode.durability);
    std::cout << fmt::format("# page_fault durability={} us={:.2f}\n",
                             mode.durability, mode.page_fault_us);
    for (const Phase& p : mode.phases) {
      std::cout << fmt::format(
          "phase={} n={} seconds={:.3f} ops_per_sec={:.0f} bound={:.0f} "
          "ratio={:.2f} cpu_us_per_op={:.1f}\n",
          p.name, p.n, p.seconds, p.ops_per_sec(), p.bound, p.ratio(),
          p.cpu_us_per_op());
      std::cout << fmt::format(
          "# gate phase={} ratio={:.2f} min={:.1f} gate={}\n", p.name,
          p.ratio(), p.gate, p.pass() ? "pass" : "FAIL");
      std::cout << fmt::format(
          "# faults phase={} minor_faults_per_op={:.3f} "
          "fault_us_per_op={:.2f}\n",
          p.name, p.faults_per_op(), p.faults_per_op() * mode.page_fault_us);
    }
    const WakeupLatency& l = mode.wakeup;
    std::cout << fmt::format(
        "# wakeup_latency_us durability={} samples={} median={:.0f} "
        "p99={:.0f} max={:.0f}\n",
        mode.durability, l.samples, l.median_us, l.p99_us, l.max_us);
    const RebuildRun& r = mode.rebuild;
    std::cout << fmt::format(
        "# rebuild durability={} events={} seconds={:.3f} "
        "events_per_sec={:.0f} "
        "view_entries={} view_writes_per_sec={:.0f} "
        "raw_batched_put_per_sec={:.0f} "
        "raw_value_bytes={} ratio={:.2f} gate={}\n",
        mode.durability, r.events, r.seconds, r.events_per_sec(),
        r.view_entries, r.writes_per_sec(), r.raw_put_rate, r.value_size,
        r.ratio(), r.ratio() >= 0.5 ? "pass" : "FAIL");
  }
  if (stabilize != nullptr) print_vs_stabilize(modes, *stabilize);
  if (threads.empty()) {
    std::cout << "# commit threads: sync mode only (not run)\n";
    return;
  }
  for (const ThreadRun& t : threads) {
    std::cout << fmt::format(
        "# commit threads={} durability=sync commits={} seconds={:.3f} "
        "commits_per_sec={:.0f} fdatasyncs_per_commit={:.3f}\n",
        t.threads, t.commits, t.seconds, t.rate(),
        t.commits > 0
            ? static_cast<double>(t.fdatasyncs) / static_cast<double>(t.commits)
            : 0);
  }
  const GoalThree g = goal_three(modes, threads);
  std::cout << fmt::format("# commit threads 16/1={:.2f} min=8.0 gate={}\n",
                           g.scaling, g.scaling >= 8 ? "pass" : "FAIL");
  if (g.computed) {
    std::cout << fmt::format(
        "# goal3 threads16_commits_per_sec={:.0f} cpu_bound={:.0f} "
        "sync_bound={:.0f} goal={:.0f} scaling={:.2f} result={}\n",
        g.rate16, g.cpu_bound, g.sync_bound, g.goal, g.scaling,
        g.met ? "pass" : "FAIL");
  } else {
    std::cout << fmt::format(
        "# goal3 scaling={:.2f} result={} (the bound form needs "
        "--durability both)\n",
        g.scaling, g.met ? "pass" : "FAIL");
  }
}

void print_json(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n,
                const StabilizeRun* stabilize) {
  nlohmann::json doc;
  doc["version"] = WFSTORE_VERSION;
  doc["n"] = n;
  doc["machine"] = {
      {"nproc", nproc()}, {"cpu", cpu_model()}, {"loadavg", load_average()}};
  for (const ModeRun& mode : modes) {
    nlohmann::json m;
    m["durability"] = mode.durability;
    m["page_fault_us"] = mode.page_fault_us;
    for (const Phase& p : mode.phases) {
      m["phases"].push_back({{"phase", p.name},
                             {"n", p.n},
                             {"seconds", p.seconds},
                             {"ops_per_sec", p.ops_per_sec()},
                             {"bound", p.bound},
                             {"ratio", p.ratio()},
                             {"cpu_us_per_op", p.cpu_us_per_op()},
                             {"minor_faults_per_op", p.faults_per_op()},
                             {"gate_min", p.gate},
                             {"gate", p.pass() ? "pass" : "FAIL"},
                             {"checked", true},
                             {"check", p.check}});
      const StabilizePhase* theirs =
          stabilize != nullptr ? stabilize->find(p.name) : nullptr;
      if (theirs == nullptr) continue;
      nlohmann::json& j = m["phases"].back();
      j["stabilize_wal_ops_per_sec"] = theirs->ops_per_sec;
      j["stabilize_wal_cpu_us_per_op"] = theirs->cpu_us_per_op;
      const GoalOne g = goal_one(p, *theirs);
      j["x_stabilize"] = g.x_stabilize;
      if (mode.durability == "buffered") {
        j["goal1"] = {{"stabilize_goal_ops_per_sec", g.stabilize_goal},
                      {"bound_goal_ops_per_sec", g.bound_goal},
                      {"bound_counts", g.bound_counts},
                      {"goal_ops_per_sec", g.goal},
                      {"meets", meets(g)},
                      {"result", g.met ? "pass" : "FAIL"}};
      }
    }
    const WakeupLatency& l = mode.wakeup;
    m["wakeup_latency_us"] = {{"samples", l.samples},
                              {"median", l.median_us},
                              {"p99", l.p99_us},
                              {"max", l.max_us}};
    const RebuildRun& r = mode.rebuild;
    m["rebuild"] = {{"events", r.events},
                    {"seconds", r.seconds},
                    {"events_per_sec", r.events_per_sec()},
                    {"view_entries", r.view_entries},
                    {"view_writes_per_sec", r.writes_per_sec()},
                    {"raw_value_bytes", r.value_size},
                    {"raw_batched_put_per_sec", r.raw_put_rate},
                    {"ratio", r.ratio()},
                    {"gate", r.ratio() >= 0.5 ? "pass" : "FAIL"}};
    doc["runs"].push_back(m);
  }
  for (const ThreadRun& t : threads) {
    doc["commit_threads"].push_back({{"threads", t.threads},
                                     {"commits", t.commits},
                                     {"seconds", t.seconds},
                                     {"commits_per_sec", t.rate()},
                                     {"fdatasyncs", t.fdatasyncs}});
  }
  if (!threads.empty()) {
    const GoalThree g = goal_three(modes, threads);
    doc["commit_threads_16_over_1"] = g.scaling;
    nlohmann::json& goal = doc["goal3"];
    goal["threads16_commits_per_sec"] = g.rate16;
    goal["scaling"] = g.scaling;
    if (g.computed) {
      goal["cpu_bound_commits_per_sec"] = g.cpu_bound;
      goal["sync_bound_commits_per_sec"] = g.sync_bound;
      goal["goal_commits_per_sec"] = g.goal;
    }
    goal["result"] = g.met ? "pass" : "FAIL";
  }
  if (stabilize != nullptr) {
    nlohmann::json& st = doc["stabilize"];
    st["store"] = "SqliteWorkflowStore, journal_mode=WAL";
    st["about"] = stabilize->about;
    for (const StabilizePhase& p : stabilize->phases) {
      st["phases"].push_back({{"phase", p.name},
                              {"n", p.n},
                              {"seconds", p.seconds},
                              {"ops_per_sec", p.ops_per_sec},
                              {"cpu_us_per_op", p.cpu_us_per_op},
                              {"checked", true}});
    }
  }
  std::cout << doc.dump(2) << "\n";
}

}  // namespace wfstore::bench
