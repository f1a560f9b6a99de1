// The read side of the store over the views (any ViewReader: an LMDB snapshot,
// a memory store, an overlay): the loads and queries that the WorkflowStore's
// read methods call. Table layouts are in fold.h.
//
// Every function only reads, throws CorruptionError for a malformed record
// and IOError from the views, and is as thread-safe as the reader it is given.

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/model.h"
#include "wfstore/stage_set.h"

#include "wfstore_internal/view_records.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

// The workflow `id` (stages in insertion order with their tasks in list order
// when `with_stages`, else no stages), or nullopt if absent.
std::optional<Workflow> load_workflow(const ViewReader& views,
                                      std::string_view id, bool with_stages);

// The stage `stage_id` with its tasks, or nullopt if absent.
std::optional<StageExecution> load_stage(const ViewReader& views,
                                         std::string_view stage_id);

// A stage inside its partial parent (docs/semantics.md §5.11): `execution`
// holds the workflow's fields and, in this order, the stage, its direct
// upstream stages and its direct synthetic children (each with tasks, in
// insertion order); the stage is execution.stages[index] (always 0).
std::optional<StageInExecution> retrieve_stage(const ViewReader& views,
                                               std::string_view stage_id);

// The graph queries (docs/semantics.md §5.10) return a StageSet: `stages` with
// tasks in insertion order; `execution` holds every stage of the workflow
// without tasks, or is null when the workflow does not exist.
//
// Direct upstream stages of the stage with `stage_ref_id` (empty when it or
// the workflow is missing).
StageSet upstream_stages(const ViewReader& views, std::string_view workflow_id,
                         std::string_view stage_ref_id);
// Stages whose requisites contain `stage_ref_id`.
StageSet downstream_stages(const ViewReader& views,
                           std::string_view workflow_id,
                           std::string_view stage_ref_id);
// Stages whose parent_stage_id is `parent_stage_id` (an id, not a ref_id),
// both owners.
StageSet synthetic_stages(const ViewReader& views, std::string_view workflow_id,
                          std::string_view parent_stage_id);

// docs/semantics.md §5.9 over the stored workflow ({} when it or the ref is
// missing).
nlohmann::json merged_ancestor_outputs(const ViewReader& views,
                                       std::string_view workflow_id,
                                       std::string_view stage_ref_id);

// Ids of the workflows of `application` / with `pipeline_config_id`, in
// result order: start_time descending, NULLs last, then id. With criteria:
// statuses filter when non-empty; start_time_after / start_time_before are
// exclusive bounds and a NULL start time fails any bound (Q1); page_size
// limits when non-zero. Without criteria: every workflow. Throws
// InvalidArgumentError for a negative page size.
std::vector<std::string> workflow_ids_by_application(
    const ViewReader& views, std::string_view application,
    const std::optional<WorkflowCriteria>& criteria);
std::vector<std::string> workflow_ids_by_pipeline_config_id(
    const ViewReader& views, std::string_view pipeline_config_id,
    const std::optional<WorkflowCriteria>& criteria);
// The recovery query (docs/semantics.md §2): every workflow, statuses filter
// when non-empty, start_time >= start_time_after or NULL, start_time_before
// ignored, same order and page_size rule. Throws InvalidArgumentError for a
// negative page size.
std::vector<std::string> pending_workflow_ids(const ViewReader& views,
                                              const WorkflowCriteria& criteria);

// Number of workflows of `application`, counted in the index.
std::size_t count_by_application(const ViewReader& views,
                                 std::string_view application);

bool workflow_exists(const ViewReader& views, std::string_view workflow_id);

bool is_message_processed(const ViewReader& views, std::string_view message_id);

// Processed message ids in processing order (processed time, then LSN), at
// most `limit` when given.
std::vector<std::string> processed_message_ids(
    const ViewReader& views, std::optional<std::size_t> limit);

// The holder of claim (execution_id, claim_key), or nullopt.
std::optional<std::string> claim_holder(const ViewReader& views,
                                        std::string_view execution_id,
                                        std::string_view claim_key);

// LSNs of the events of `workflow_id`, ascending (kept after a delete).
std::vector<std::uint64_t> workflow_event_lsns(const ViewReader& views,
                                               std::string_view workflow_id);

// Meta: the last folded LSN (0 when none), the next delivery id (1 when no
// message was ever pushed).
std::uint64_t applied_lsn(const ViewReader& views);
std::uint64_t next_delivery_id(const ViewReader& views);

// The queue (docs/write-path.md#the-queues-leases).

// Every queued delivery: delayed, leased and attempt-exhausted ones too.
std::uint64_t queue_size(const ViewReader& views);
std::uint64_t dead_letter_count(const ViewReader& views);

// True when a queued delivery's payload has task_id == `task_id` exactly.
bool has_pending_message_for_task(const ViewReader& views,
                                  std::string_view task_id);

// A queued delivery as stored.
struct QueuedMessage {
  std::uint64_t delivery_id = 0;
  std::string execution_id;
  std::string message_type;
  std::string payload_cbor;  // the wire JSON as CBOR
  std::int64_t deliver_at = 0;
  std::optional<std::int64_t> max_attempts;  // unset: the queue's
  std::int64_t attempts = 0;
  std::optional<std::int64_t> lease_until;  // set while leased
};
std::optional<QueuedMessage> find_queued_message(const ViewReader& views,
                                                 std::uint64_t delivery_id);

// A dead letter as stored (docs/write-path.md#the-queues-leases); `id` is the
// delivery id.
struct StoredDeadLetter : records::DeadLetterRecord {
  std::uint64_t id = 0;
};
// Up to `limit` dead letters, moved_at descending then id descending,
// only of `message_type` when given.
std::vector<StoredDeadLetter> list_dead_letters(
    const ViewReader& views, std::size_t limit,
    std::optional<std::string_view> message_type);

// The earliest time after `now_ms` at which a delivery becomes due: the first
// deliver_at > now_ms of an unleased delivery, or the first
// max(deliver_at, lease_until + 1) > now_ms of a leased one (attempt limits
// ignored); nullopt when none will. Reads O(log n) per attempt class present.
std::optional<std::int64_t> next_queue_due_time(const ViewReader& views,
                                                std::int64_t now_ms);

}  // namespace wfstore
