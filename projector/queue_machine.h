// decide() and fold() for the queue's commands and events (DESIGN.md "Queue",
// spec §4.3-4.4), split from state_machine.cc. Table layouts are documented in
// wfstore_internal/state_machine.h.

#pragma once

#include "wfstore/event.h"

#include "wfstore_internal/commands.h"
#include "wfstore_internal/state_machine.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::queue_machine {

Decision decide(const PushMessage& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const LeaseNext& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const AckMessage& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const RescheduleMessage& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const ExtendLease& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const MoveToDeadLetters& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const MoveExpiredToDeadLetters& command,
                const ViewReader& views, const DecideContext& context);
Decision decide(const ReplayDeadLetter& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const ClearQueue& command, const ViewReader& views,
                const DecideContext& context);
Decision decide(const ClearDeadLetters& command, const ViewReader& views,
                const DecideContext& context);

// Applies a queue event (MessagePushed ... DeadLetterQueueCleared); any other
// payload is ignored.
void fold(const EventPayload& payload, ViewStore& views);

}  // namespace wfstore::queue_machine
