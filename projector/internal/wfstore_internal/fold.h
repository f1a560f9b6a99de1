// The fold side of the store: fold(event, views) applies an event to the read
// models. The writer (after store/command's decide), a transaction's eager
// checks, catch-up, rebuilds and replicas all fold through it
// (docs/read-models.md); projector/fold/ holds it, one function per event type.
//
// fold() makes the same writes in the same order for the same event and views,
// however events are grouped into transactions, so the view checksum is a
// function of the log alone. It names every event type: an event type added to
// the catalogue without a fold is a compile error.
//
// Tables (keys are fixed-width big-endian; "wf", "stage", "app", ... are
// 64-bit surrogates interned through `ids`, keys.h; times are i64 with the
// sign bit flipped; layouts in view_records.h):
//
//   workflows        wf -> next_position, the workflow without stages
//   stages           stage -> wf, position, the stage with tasks in order
//   stage_order      (wf, position) -> stage, parent stage (0: none),
//                    requisite ref ids, outputs, ref_id
//   by_application   (app, start, wf) -> status, workflow id
//   by_pipeline_config (config, start, wf) -> status, workflow id
//   by_start_time    (start, wf) -> status, workflow id
//                    start := u8 0, ~time (set) | u8 1, 0 (NULL): start_time
//                    descending, NULLs last; ties by surrogate, which the
//                    queries re-sort by workflow id
//   processed_messages  hash of the message id -> per id sharing it:
//                    message id, (processed_at, lsn, handler_type,
//                    execution_id); message ids are not interned
//   processed_by_time   (processed_at, lsn) -> message id
//   claims           (execution, claim key) -> execution id, claim key,
//                    stage id, claimed_at
//   queue_messages   delivery -> execution id, type, payload CBOR,
//                    deliver_at, max_attempts, attempts, lease_until,
//                    the payload's task_id ("" if none)
//   queue_ready      (attempt class, deliver_at, delivery) -> "" or
//                    lease_until, for every queued delivery (the poll index:
//                    view_records.h)
//   queue_leases     (max(lease_until, deliver_at - 1), delivery) -> "" (leased
//                    deliveries)
//   queue_task_index (u16 length, task id bytes, delivery) -> "" for every
//                    queued delivery whose payload has a non-empty task_id
//   dead_letters     delivery -> execution id, type, payload CBOR,
//                    max_attempts, attempts, error, moved_at
//   meta             the keys of view_meta.h
//
// The history indexes (history_index.h), written for every event before its
// own fold and kept after a delete:
//
//   workflow_events  (wf, lsn) -> event type u16, for events whose envelope
//                    names a workflow
//   entity_events    (entity kind u8, key, lsn) -> type u16 [, check u64]:
//                    every stage, task (key id_hash(id), check of the id)
//                    and delivery (key its id) event_entities() names
//   type_events      (type u16, lsn) -> ""
//   commits          first lsn -> commit time, once per commit
//   commit_times     (commit time, first lsn) -> "", once per commit
//   actor_commits    (id_hash(actor), first lsn) -> check u64, for commits
//                    with an actor
//   correlation_commits (id_hash(correlation id), first lsn) -> check u64
//   event_counts     type u16 -> events of that type u64
//
// Not written by fold(), and not checksummed (bookkeeping of one copy, like
// meta): log_positions, first lsn -> (segment first lsn, offset), at most one
// commit per log block, written beside the fold by the writer, catch-up and
// rebuild.
//
// Positions in stage_order come from the workflow's next_position and are
// never reused.
//
// Thread-safety: the functions keep no state; the views' own rules apply.

#pragma once

#include <vector>

#include "wfstore/event.h"

#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_store.h"

namespace wfstore {

// Applies `event` to the views (LSN from event.lsn; every other input from the
// payload). An event whose target is absent (a stage of a deleted workflow, an
// ack of an unknown delivery) writes only the workflow event index. Throws
// CorruptionError for a malformed stored record, IOError and MapFullError from
// the views.
void fold(const Event& event, ViewStore& views);

// Folds `events` in order, then records the last one's LSN as the applied
// LSN in meta. Throws what fold() throws.
void fold_events(const std::vector<Event>& events, ViewStore& views);

}  // namespace wfstore
