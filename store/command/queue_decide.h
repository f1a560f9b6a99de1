// decide() for the queue's commands (docs/write-path.md#the-queues-leases,
// docs/semantics.md §4.3-4.4), one per command, which decide()
// (workflow_decide.cc) calls. Table layouts are documented in
// wfstore_internal/fold.h.

#pragma once

#include <type_traits>

#include "wfstore_internal/commands.h"
#include "wfstore_internal/decide.h"
#include "wfstore_internal/view_store.h"

namespace wfstore::queue_decide {

// The queue's commands: the alternatives of Command that decide() below takes.
template <typename C>
concept QueueCommand =
    std::is_same_v<C, PushMessage> || std::is_same_v<C, LeaseNext> ||
    std::is_same_v<C, AckMessage> || std::is_same_v<C, RescheduleMessage> ||
    std::is_same_v<C, ExtendLease> || std::is_same_v<C, MoveToDeadLetters> ||
    std::is_same_v<C, MoveExpiredToDeadLetters> ||
    std::is_same_v<C, ReplayDeadLetter> || std::is_same_v<C, ClearQueue> ||
    std::is_same_v<C, ClearDeadLetters>;

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

}  // namespace wfstore::queue_decide
