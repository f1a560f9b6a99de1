// The demo's fleet (tools/demo_fleet.cc): hundreds of deployment workflows
// run by the demo's engine (tools/demo_engine.h) on a processor's worker
// threads, with planned faults, pauses and cancellations, then checked.

#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace wfstore::tools {

struct FleetOptions {
  // Workflows in the fleet.
  std::size_t workflows = 500;
  // The processor's worker threads.
  int workers = 32;
  // When not empty, the summary is written to this file as one JSON
  // document (keys: docs in run_fleet below).
  std::string summary_json;
};

// Opens the store in `dir` (created when missing or empty; no other writer),
// stores `options.workflows` deployment workflows of application "fleet"
// (build; unit, integration and e2e tests in parallel joining into a deploy
// with a before-stage taking the deploy lock and an after-stage notifying;
// then verify) from 4 submitting threads and runs them through a
// QueueProcessor of `options.workers` threads and the demo's engine, durable
// (fdatasync per commit group). The plan, by workflow index: some fail a
// stage (TERMINAL), some meet a transient handler fault (the processor
// retries it), some are paused while running and resumed, some are canceled
// while running, and one poison message (RunTask) is dead-lettered after 3
// attempts. Shows progress on stderr (a bar when stderr is a terminal, a line
// every 2 s otherwise), then prints a summary table on stdout and checks
// every workflow's final state (status, stages, pause and cancel details)
// against its plan, the processor's retries and the dead letter.
//
// The summary JSON: {"workflows", "workers", "planned" and "by_status"
// (status name -> count), "paused_resumed", "canceled", "failed_stages",
// "transient_faults", "dead_letters", "processor" {"handled",
// "deduplicated", "failed", "dead_lettered"}, "events", "commits",
// "fdatasyncs", "fdatasyncs_per_commit", "wall_seconds",
// "workflows_per_second", "commits_per_second", "events_per_second",
// "checks" {"workflows_checked", "workflows_wrong", "wrong" (up to 20
// {"id", "plan", "problem"}), "drained", "retries_as_planned",
// "dead_letter_as_planned", "submit_error" (empty when none)}, "ok"}.
//
// Returns true when every check passed. Throws what the store throws
// (wfstore::Error) and IOError when the summary file cannot be written.
bool run_fleet(const std::filesystem::path& dir, const FleetOptions& options);

}  // namespace wfstore::tools
