// `wfstore bench --viewer` (tools/viewer_bench.cc).

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wfstore::tools {

struct ViewerBenchOptions {
  // Events of the one workflow the workflow page's calls read.
  std::uint64_t workflow_events = 10000;
  // Workflows of the store the list pages through.
  std::uint64_t workflows = 10000;
  // Most samples per latency figure (each loop also stops after 3 s).
  std::size_t samples = 50;
  // Seconds of each commit-throughput run.
  double commit_seconds = 3.0;
  std::string dir;  // empty: a temporary directory
  bool json = false;
};

// Builds a store of `workflows` workflows and one of `workflow_events`
// events, serves it with `wfstore serve` (this binary, in a child process,
// as a person would run it), and measures over HTTP the latency of the
// workflow page's calls (the workflow, its first history page, its points,
// its timeline, a diff over its whole history) and of the list's first and
// last page; then the commit throughput of a writer (this process) with no
// viewer and with the viewer running and one client following the event
// stream live (and checks the client got every commit). Prints lines, or
// one JSON document. Returns 0, or 1 when a check failed. Throws what the
// store throws, and IOError when the server cannot be started or reached.
int run_viewer_bench(const ViewerBenchOptions& options);

}  // namespace wfstore::tools
