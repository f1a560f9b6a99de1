// The folds of the queue's events (docs/write-path.md#the-queues-leases,
// docs/semantics.md §4.3-4.4), one per event type, which fold()
// (workflow_fold.cc) calls. Table layouts are documented in
// wfstore_internal/fold.h and wfstore_internal/view_records.h.

#pragma once

#include "wfstore/event.h"

#include "wfstore_internal/view_store.h"

namespace wfstore::queue_fold {

void fold(const MessagePushed& event, ViewStore& views);
void fold(const MessageLeased& event, ViewStore& views);
void fold(const MessageAcked& event, ViewStore& views);
void fold(const MessageRescheduled& event, ViewStore& views);
void fold(const MessageLeaseExtended& event, ViewStore& views);
void fold(const MessageDeadLettered& event, ViewStore& views);
void fold(const DeadLetterReplayed& event, ViewStore& views);
void fold(const QueueCleared& event, ViewStore& views);
void fold(const DeadLetterQueueCleared& event, ViewStore& views);

}  // namespace wfstore::queue_fold
