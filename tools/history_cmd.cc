// `wfstore history ID --dir D [--json]`: every event of one workflow, one
// line each (LSN, time, actor, type, entity, what changed), or JSON Lines of
// event_to_json documents. Read-only.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "wfstore/event.h"
#include "wfstore/history.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/history_print.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct HistoryOptions {
  std::string id;
  std::string dir;
  bool json = false;
};

// What an event did, for one line: the entity it is about and a short
// summary of the change.
struct Line {
  std::string entity;
  std::string what;
};

std::string wf(const std::string& id) { return "workflow:" + id; }
std::string stage(const std::string& id) { return "stage:" + id; }
std::string delivery(std::uint64_t id) {
  return fmt::format("delivery:{}", id);
}
std::string time(const std::optional<std::int64_t>& ms) {
  return ms ? format_time_ms(*ms) : "-";
}

Line describe(const WorkflowStored& e) {
  return {wf(e.workflow.id), fmt::format("stored: status {}, {} stages",
                                         status_name(e.workflow.status),
                                         e.workflow.stages.size())};
}
Line describe(const WorkflowStatusUpdated& e) {
  std::string what = fmt::format("status {}", status_name(e.status));
  if (e.is_canceled) what += ", canceled";
  if (e.paused) what += ", paused";
  return {wf(e.workflow_id), what};
}
Line describe(const WorkflowStatusSet& e) {
  return {wf(e.workflow_id),
          fmt::format("status {} (start {}, end {})", status_name(e.status),
                      time(e.start_time), time(e.end_time))};
}
Line describe(const WorkflowPaused& e) {
  return {wf(e.workflow_id), "paused by " + e.paused_by};
}
Line describe(const WorkflowResumed& e) {
  return {wf(e.workflow_id), "resumed"};
}
Line describe(const WorkflowCancelRequested& e) {
  return {wf(e.workflow_id),
          fmt::format("cancel requested by {}: {}", e.canceled_by, e.reason)};
}
Line describe(const WorkflowDeleted& e) {
  return {wf(e.workflow_id), "deleted"};
}
Line describe(const StageAdded& e) {
  return {stage(e.stage.id),
          fmt::format("added {}: status {}, version {}", e.stage.ref_id,
                      status_name(e.stage.status), e.stage.version)};
}
Line describe(const StageUpdated& e) {
  std::string what =
      fmt::format("status {}, version {}", status_name(e.status), e.version);
  for (const TaskExecution& task : e.tasks) {
    what += fmt::format(", task {} {}", task.id, status_name(task.status));
  }
  return {stage(e.stage_id), what};
}
Line describe(const StageRemoved& e) { return {stage(e.stage_id), "removed"}; }
Line describe(const MessageProcessed& e) {
  return {wf(e.execution_id.value_or("")),
          fmt::format("message {} processed by {}", e.message_id,
                      e.handler_type.value_or("-"))};
}
Line describe(const ProcessedMessagesPurged& e) {
  return {"-", fmt::format("{} processed marks before {} purged", e.count,
                           format_time_ms(e.cutoff))};
}
Line describe(const ClaimAcquired& e) {
  return {stage(e.stage_id), "claim " + e.claim_key + " acquired"};
}
Line describe(const ClaimTransferred& e) {
  return {stage(e.to_stage_id), fmt::format("claim {} taken over from {}",
                                            e.claim_key, e.from_stage_id)};
}
Line describe(const ClaimsPurged& e) {
  return {"-", fmt::format("{} claims purged", e.claims.size())};
}
Line describe(const MessagePushed& e) {
  return {delivery(e.delivery_id),
          fmt::format("pushed {}, due {}", e.message_type,
                      format_time_ms(e.deliver_at))};
}
Line describe(const MessageLeased& e) {
  return {delivery(e.delivery_id),
          fmt::format("leased, attempt {}, until {}", e.attempt,
                      format_time_ms(e.lease_until))};
}
Line describe(const MessageAcked& e) {
  return {delivery(e.delivery_id), "acked"};
}
Line describe(const MessageRescheduled& e) {
  return {delivery(e.delivery_id),
          "rescheduled to " + format_time_ms(e.deliver_at)};
}
Line describe(const MessageLeaseExtended& e) {
  return {delivery(e.delivery_id),
          "lease extended to " + format_time_ms(e.lease_until)};
}
Line describe(const MessageDeadLettered& e) {
  return {delivery(e.delivery_id), "dead-lettered: " + e.error};
}
Line describe(const DeadLetterReplayed& e) {
  return {delivery(e.delivery_id),
          fmt::format("replayed as delivery {}", e.new_delivery_id)};
}
Line describe(const QueueCleared&) { return {"-", "queue cleared"}; }
Line describe(const DeadLetterQueueCleared&) {
  return {"-", "dead letters cleared"};
}

int run_history(const HistoryOptions& o) {
  auto db = open_store(o.dir);
  print_workflow_history(History(*db), o.id, o.json);
  return kExitOk;
}

}  // namespace

void print_workflow_history(const History& history,
                            const std::string& workflow_id, bool json) {
  require_workflow_events(history, workflow_id);
  for_each_workflow_event(history, workflow_id, [&](const Event& event) {
    if (json) {
      std::cout << event_to_json(event).dump() << '\n';
      return true;
    }
    const Line line =
        std::visit([](const auto& p) { return describe(p); }, event.payload);
    std::cout << fmt::format(
        "{:>7}  {}  {:<20} {:<24} {:<40} {}\n", event.lsn,
        format_time_ms(event.timestamp_ms),
        event.audit.actor.empty() ? "-" : truncated(event.audit.actor, 20),
        event_type_name(event.type()), truncated(line.entity, 40), line.what);
    return true;
  });
}

void add_history_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<HistoryOptions>();
  CLI::App* cmd = app.add_subcommand(
      "history",
      "Print every event of a workflow: LSN, time, actor, type, entity, what "
      "changed");
  cmd->add_option("id", o->id, "The workflow id")->required();
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json,
                "Print each event as its JSON document (JSON Lines)");
  action = [o] { return run_history(*o); };
}

}  // namespace wfstore::tools
