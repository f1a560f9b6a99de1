// `wfstore bench --vs-stabilize`: stabilize's own SqliteWorkflowStore (WAL
// mode) on the same standard workload, through bench/stabilize_workload.py,
// and the goal each buffered phase is held to beside it.

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/errors.h"

#include "bench/store_bench.h"

#ifndef WFSTORE_STABILIZE_DIR
#define WFSTORE_STABILIZE_DIR ""
#endif
#ifndef WFSTORE_STABILIZE_SCRIPT
#define WFSTORE_STABILIZE_SCRIPT ""
#endif
#ifndef WFSTORE_BENCH_PYTHON
#define WFSTORE_BENCH_PYTHON "python3"
#endif

namespace wfstore::bench {
namespace {

// The value of `key=` in a line of space-separated key=value fields, or "".
std::string field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    if (word.size() > key.size() && word.compare(0, key.size(), key) == 0 &&
        word[key.size()] == '=') {
      return word.substr(key.size() + 1);
    }
  }
  return "";
}

double number(const std::string& line, const std::string& key) {
  const std::string value = field(line, key);
  try {
    std::size_t used = 0;
    const double x = std::stod(value, &used);
    if (used == value.size()) return x;
  } catch (const std::exception&) {
  }
  throw IOError(fmt::format(
      "bench --vs-stabilize: stabilize_workload.py printed a bad {}: {}", key,
      line));
}

// Runs `argv` with its stdout read into the result; stderr is inherited.
// Returns the exit status. Throws IOError when it cannot run.
int run_capturing(const std::vector<std::string>& argv, std::string& out) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw IOError(fmt::format("bench --vs-stabilize: pipe: {}",
                              std::generic_category().message(errno)));
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw IOError(fmt::format("bench --vs-stabilize: fork: {}",
                              std::generic_category().message(errno)));
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fds[0], buffer, sizeof(buffer));
    if (got > 0) {
      out.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

StabilizeRun run_stabilize(std::uint64_t n, std::uint64_t dedup,
                           const std::filesystem::path& dir) {
  const std::string source = WFSTORE_STABILIZE_DIR;
  if (source.empty()) {
    throw InvalidArgumentError(
        "bench --vs-stabilize: this build has no stabilize source tree "
        "(configure with -DWFSTORE_STABILIZE_DIR=<stabilize>, as tools/run "
        "does)");
  }
  std::filesystem::create_directories(dir);
  const std::vector<std::string> argv = {
      WFSTORE_BENCH_PYTHON, "-B",      WFSTORE_STABILIZE_SCRIPT,
      "--stabilize-dir",    source,    "--n",
      std::to_string(n),    "--dedup", std::to_string(dedup),
      "--journal-mode",     "WAL",     "--dir",
      dir.string()};
  std::string out;
  const int status = run_capturing(argv, out);
  if (status == 1) {
    throw CheckFailed("stabilize's store on the workload (see above)");
  }
  if (status != 0) {
    throw IOError(
        fmt::format("bench --vs-stabilize: {} {} exited with status {}",
                    WFSTORE_BENCH_PYTHON, WFSTORE_STABILIZE_SCRIPT, status));
  }
  StabilizeRun run;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) {
      if (run.about.empty()) run.about = line.substr(2);
      continue;
    }
    if (line.rfind("phase=", 0) != 0) continue;
    StabilizePhase phase;
    phase.name = field(line, "phase");
    phase.n = static_cast<std::uint64_t>(number(line, "n"));
    phase.seconds = number(line, "seconds");
    phase.ops_per_sec = number(line, "ops_per_sec");
    phase.cpu_us_per_op = number(line, "cpu_us_per_op");
    run.phases.push_back(phase);
  }
  if (run.phases.size() != 8) {
    throw IOError(fmt::format(
        "bench --vs-stabilize: stabilize_workload.py printed {} phases, "
        "expected 8:\n{}",
        run.phases.size(), out));
  }
  return run;
}

const StabilizePhase* StabilizeRun::find(const std::string& name) const {
  for (const StabilizePhase& phase : phases) {
    if (phase.name == name) return &phase;
  }
  return nullptr;
}

GoalOne goal_one(const Phase& ours, const StabilizePhase& stabilize) {
  GoalOne goal;
  goal.x_stabilize = stabilize.ops_per_sec > 0
                         ? ours.ops_per_sec() / stabilize.ops_per_sec
                         : 0;
  goal.stabilize_goal = 10 * stabilize.ops_per_sec;
  goal.bound_goal = 0.7 * ours.bound;
  goal.meets_stabilize = ours.ops_per_sec() >= goal.stabilize_goal;
  goal.meets_bound = ours.ratio() >= 0.7;
  // Ancestors' bound is whatever records the implementation reads: only
  // stabilize counts.
  goal.bound_counts = ours.name != "ancestors";
  goal.goal = goal.bound_counts ? std::min(goal.stabilize_goal, goal.bound_goal)
                                : goal.stabilize_goal;
  goal.met = goal.meets_stabilize || (goal.bound_counts && goal.meets_bound);
  return goal;
}

}  // namespace wfstore::bench
