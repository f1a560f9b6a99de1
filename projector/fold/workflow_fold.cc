// fold() of every event, and the folds of the workflow, stage, processed
// message and claim events (the queue's are in queue_fold.cc).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/model.h"

#include "projector/fold/queue_fold.h"
#include "wfstore_internal/fold.h"
#include "wfstore_internal/history_index.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/overloaded.h"
#include "wfstore_internal/view_records.h"

namespace wfstore {
namespace {

// The keys of a workflow's entries in the three start-time indexes.
struct IndexKeys {
  std::string application;
  std::optional<std::string> pipeline_config;
  std::string start_time;
};

IndexKeys index_keys(ViewStore& views, std::uint64_t wf,
                     const Workflow& summary) {
  IndexKeys keys;
  keys.application = records::start_index_key(
      keys::intern_id(views, summary.application), summary.start_time, wf);
  if (summary.pipeline_config_id) {
    keys.pipeline_config = records::start_index_key(
        keys::intern_id(views, *summary.pipeline_config_id), summary.start_time,
        wf);
  }
  keys.start_time =
      records::start_index_key(std::nullopt, summary.start_time, wf);
  return keys;
}

void reindex_one(ViewStore& views, Table table,
                 const std::optional<std::string>& old_key,
                 const std::optional<std::string>& new_key, bool status_changed,
                 const std::string& value) {
  if (old_key && old_key != new_key) views.del(table, *old_key);
  if (new_key && (old_key != new_key || status_changed)) {
    views.put(table, *new_key, value);
  }
}

// Moves the workflow's index entries from `before` to `after` (either may be
// null: added or deleted).
void reindex(ViewStore& views, std::uint64_t wf, const Workflow* before,
             const Workflow* after) {
  std::optional<IndexKeys> old_keys;
  std::optional<IndexKeys> new_keys;
  if (before != nullptr) old_keys = index_keys(views, wf, *before);
  if (after != nullptr) new_keys = index_keys(views, wf, *after);
  const bool status_changed =
      before == nullptr || after == nullptr || before->status != after->status;
  const std::string value =
      after == nullptr ? std::string()
                       : records::start_index_value(after->status, after->id);
  auto part = [](const std::optional<IndexKeys>& k,
                 std::string IndexKeys::*member) -> std::optional<std::string> {
    if (!k) return std::nullopt;
    return (*k).*member;
  };
  reindex_one(views, Table::kByApplication,
              part(old_keys, &IndexKeys::application),
              part(new_keys, &IndexKeys::application), status_changed, value);
  reindex_one(views, Table::kByPipelineConfig,
              old_keys ? old_keys->pipeline_config : std::nullopt,
              new_keys ? new_keys->pipeline_config : std::nullopt,
              status_changed, value);
  reindex_one(views, Table::kByStartTime,
              part(old_keys, &IndexKeys::start_time),
              part(new_keys, &IndexKeys::start_time), status_changed, value);
}

Workflow summary_of(const Workflow& workflow) {
  Workflow summary = workflow;
  summary.stages.clear();
  return summary;
}

// Writes the stage_order entry of `stage` (interned as `stage_surrogate`) at
// `position` of workflow `wf`.
void put_stage_order(ViewStore& views, std::uint64_t wf, std::uint64_t position,
                     std::uint64_t stage_surrogate,
                     const StageExecution& stage) {
  const std::uint64_t parent =
      stage.parent_stage_id ? keys::intern_id(views, *stage.parent_stage_id)
                            : 0;
  views.put(Table::kStageOrder, keys::make_key({wf, position}),
            records::encode_stage_order(stage_surrogate, parent,
                                        stage.requisite_stage_ref_ids,
                                        stage.outputs.cbor(), stage.ref_id));
}

void put_stage(ViewStore& views, std::uint64_t wf, std::uint64_t position,
               const StageExecution& stage) {
  const std::uint64_t stage_surrogate = keys::intern_id(views, stage.id);
  views.put(Table::kStages, keys::encode_u64(stage_surrogate),
            records::encode_stage_record(stage, wf, position));
  put_stage_order(views, wf, position, stage_surrogate, stage);
}

void fold_stored(const WorkflowStored& event, ViewStore& views) {
  const Workflow& workflow = event.workflow;
  const std::uint64_t wf = keys::intern_id(views, workflow.id);
  if (views.contains(Table::kWorkflows, keys::encode_u64(wf))) return;
  const Workflow summary = summary_of(workflow);
  views.put(Table::kWorkflows, keys::encode_u64(wf),
            records::encode_workflow_record(summary, workflow.stages.size()));
  for (std::size_t i = 0; i < workflow.stages.size(); ++i) {
    put_stage(views, wf, i, workflow.stages[i]);
  }
  reindex(views, wf, nullptr, &summary);
}

// Loads the workflow `id`, lets `change` modify its summary, and writes the
// record and index entries back. No-op when the workflow is absent.
template <typename Change>
void change_workflow(ViewStore& views, std::string_view id, Change change) {
  const std::optional<std::uint64_t> wf =
      records::workflow_surrogate(views, id);
  if (!wf) return;
  std::optional<records::WorkflowRecord> record =
      records::load_workflow_record(views, *wf);
  const Workflow before = record->summary;
  change(record->summary);
  views.put(
      Table::kWorkflows, keys::encode_u64(*wf),
      records::encode_workflow_record(record->summary, record->next_position));
  reindex(views, *wf, &before, &record->summary);
}

void fold_deleted(const WorkflowDeleted& event, ViewStore& views) {
  const std::optional<std::uint64_t> wf =
      records::workflow_surrogate(views, event.workflow_id);
  if (!wf) return;
  const std::optional<records::WorkflowRecord> record =
      records::load_workflow_record(views, *wf);
  const std::string prefix = keys::encode_u64(*wf);
  std::vector<std::pair<std::string, std::uint64_t>> order;
  views.scan(Table::kStageOrder, prefix, keys::prefix_end(prefix),
             [&](std::string_view key, std::string_view value) {
               order.emplace_back(std::string(key),
                                  records::decode_stage_order(value).stage);
               return true;
             });
  for (const auto& [key, stage] : order) {
    views.del(Table::kStages, keys::encode_u64(stage));
    views.del(Table::kStageOrder, key);
  }
  reindex(views, *wf, &record->summary, nullptr);
  views.del(Table::kWorkflows, prefix);
}

void fold_stage_added(const StageAdded& event, ViewStore& views) {
  const StageExecution& stage = event.stage;
  const std::optional<std::uint64_t> wf =
      records::workflow_surrogate(views, stage.execution_id);
  if (!wf || records::stage_exists(views, stage.id)) return;
  const std::string wf_key = keys::encode_u64(*wf);
  std::string value = *views.get(Table::kWorkflows, wf_key);
  const std::uint64_t position =
      keys::decode_u64(std::string_view(value).substr(0, 8));
  put_stage(views, *wf, position, stage);
  // The record starts with next_position: patch it in place.
  std::string next = keys::encode_u64(position + 1);
  value.replace(0, 8, next);
  views.put(Table::kWorkflows, wf_key, value);
}

void fold_stage_updated(const StageUpdated& event, ViewStore& views) {
  const std::optional<records::FoundStage> found =
      records::find_stage(views, event.stage_id);
  if (!found) return;
  StageExecution stage = found->record->stage;
  // The stage_order entry holds the outputs too: rewritten when they change.
  const bool outputs_changed = stage.outputs.cbor() != event.outputs.cbor();
  stage.version = event.version;
  stage.status = event.status;
  stage.context = event.context;
  stage.outputs = event.outputs;
  stage.start_time = event.start_time;
  stage.end_time = event.end_time;
  for (const TaskExecution& task : event.tasks) {
    TaskExecution* existing = nullptr;
    for (TaskExecution& candidate : stage.tasks) {
      if (candidate.id == task.id) {
        existing = &candidate;
        break;
      }
    }
    if (existing != nullptr) {
      *existing = task;
    } else {
      stage.tasks.push_back(task);
    }
  }
  views.put(Table::kStages, keys::encode_u64(found->surrogate),
            records::encode_stage_record(stage, found->record->workflow,
                                         found->record->position));
  if (outputs_changed) {
    put_stage_order(views, found->record->workflow, found->record->position,
                    found->surrogate, stage);
  }
}

void fold_stage_removed(const StageRemoved& event, ViewStore& views) {
  const std::optional<records::FoundStage> found =
      records::find_stage(views, event.stage_id);
  if (!found) return;
  views.del(Table::kStages, keys::encode_u64(found->surrogate));
  views.del(Table::kStageOrder,
            keys::make_key({found->record->workflow, found->record->position}));
}

void fold_processed(const MessageProcessed& event, std::uint64_t lsn,
                    ViewStore& views) {
  const std::string key = records::processed_key(event.message_id);
  std::string value;
  if (std::optional<std::string> stored =
          views.get(Table::kProcessedMessages, key)) {
    if (records::has_processed(*stored, event.message_id)) return;
    value = std::move(*stored);
  }
  records::append_processed(
      value, event.message_id,
      {event.processed_at, lsn, event.handler_type, event.execution_id});
  views.put(Table::kProcessedMessages, key, value);
  std::string by_time = keys::encode_i64(event.processed_at);
  keys::append_u64(by_time, lsn);
  views.put(Table::kProcessedByTime, by_time, event.message_id);
}

void fold_purged(const ProcessedMessagesPurged& event, ViewStore& views) {
  std::vector<std::pair<std::string, std::string>> doomed;
  views.scan(Table::kProcessedByTime, "", keys::encode_i64(event.cutoff),
             [&](std::string_view key, std::string_view message_id) {
               doomed.emplace_back(std::string(key), std::string(message_id));
               return true;
             });
  for (const auto& [by_time, message_id] : doomed) {
    const std::string key = records::processed_key(message_id);
    const std::optional<std::string> stored =
        views.get(Table::kProcessedMessages, key);
    const std::string rest = records::without_processed(
        stored ? std::optional<std::string_view>(*stored) : std::nullopt,
        message_id);
    if (rest.empty()) {
      views.del(Table::kProcessedMessages, key);
    } else {
      views.put(Table::kProcessedMessages, key, rest);
    }
    views.del(Table::kProcessedByTime, by_time);
  }
}

void put_claim(ViewStore& views, const std::string& execution_id,
               const std::string& claim_key, const std::string& stage_id,
               std::int64_t claimed_at) {
  const std::uint64_t execution = keys::intern_id(views, execution_id);
  const std::uint64_t claim = keys::intern_id(views, claim_key);
  views.put(
      Table::kClaims, records::claim_key(execution, claim),
      records::encode_claim({execution_id, claim_key, stage_id, claimed_at}));
}

void fold_claims_purged(const ClaimsPurged& event, ViewStore& views) {
  for (const ClaimId& id : event.claims) {
    const std::optional<std::uint64_t> execution =
        keys::lookup_id(views, id.execution_id);
    const std::optional<std::uint64_t> claim =
        keys::lookup_id(views, id.claim_key);
    if (execution && claim) {
      views.del(Table::kClaims, records::claim_key(*execution, *claim));
    }
  }
}

}  // namespace

void fold(const Event& event, ViewStore& views) {
  history_index::index_event(event, views);
  std::visit(
      Overloaded{
          [&](const WorkflowStored& e) { fold_stored(e, views); },
          [&](const WorkflowStatusUpdated& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = e.status;
              w.start_time = e.start_time;
              w.end_time = e.end_time;
              w.is_canceled = e.is_canceled;
              w.canceled_by = e.canceled_by;
              w.cancellation_reason = e.cancellation_reason;
              w.paused = e.paused;
            });
          },
          [&](const WorkflowStatusSet& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = e.status;
              w.start_time = e.start_time;
              w.end_time = e.end_time;
            });
          },
          [&](const WorkflowPaused& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = WorkflowStatus::kPaused;
              w.paused =
                  PausedDetails{e.paused_by, e.pause_time, std::nullopt, 0};
            });
          },
          [&](const WorkflowResumed& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.status = WorkflowStatus::kRunning;
              if (w.paused) {
                w.paused->resume_time = e.resume_time;
                if (w.paused->pause_time) {
                  w.paused->paused_ms = e.resume_time - *w.paused->pause_time;
                }
              }
            });
          },
          [&](const WorkflowCancelRequested& e) {
            change_workflow(views, e.workflow_id, [&](Workflow& w) {
              w.is_canceled = true;
              w.canceled_by = e.canceled_by;
              w.cancellation_reason = e.reason;
            });
          },
          [&](const WorkflowDeleted& e) { fold_deleted(e, views); },
          [&](const StageAdded& e) { fold_stage_added(e, views); },
          [&](const StageUpdated& e) { fold_stage_updated(e, views); },
          [&](const StageRemoved& e) { fold_stage_removed(e, views); },
          [&](const MessageProcessed& e) {
            fold_processed(e, event.lsn, views);
          },
          [&](const ProcessedMessagesPurged& e) { fold_purged(e, views); },
          [&](const ClaimAcquired& e) {
            put_claim(views, e.execution_id, e.claim_key, e.stage_id,
                      e.claimed_at);
          },
          [&](const ClaimTransferred& e) {
            put_claim(views, e.execution_id, e.claim_key, e.to_stage_id,
                      e.claimed_at);
          },
          [&](const ClaimsPurged& e) { fold_claims_purged(e, views); },
          [&](const MessagePushed& e) { queue_fold::fold(e, views); },
          [&](const MessageLeased& e) { queue_fold::fold(e, views); },
          [&](const MessageAcked& e) { queue_fold::fold(e, views); },
          [&](const MessageRescheduled& e) { queue_fold::fold(e, views); },
          [&](const MessageLeaseExtended& e) { queue_fold::fold(e, views); },
          [&](const MessageDeadLettered& e) { queue_fold::fold(e, views); },
          [&](const DeadLetterReplayed& e) { queue_fold::fold(e, views); },
          [&](const QueueCleared& e) { queue_fold::fold(e, views); },
          [&](const DeadLetterQueueCleared& e) { queue_fold::fold(e, views); },
      },
      event.payload);
}

void fold_events(const std::vector<Event>& events, ViewStore& views) {
  for (const Event& event : events) fold(event, views);
  if (!events.empty()) {
    views.put(Table::kMeta, kMetaAppliedLsn,
              keys::encode_u64(events.back().lsn));
  }
}

}  // namespace wfstore
