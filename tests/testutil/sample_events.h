// Sample event payloads shared by the codec and history tests.

#pragma once

#include <vector>

#include "wfstore/event.h"
#include "wfstore/model.h"

namespace wfstore::testutil {

// One payload of every event type, every field set, derived from `w` (which
// must have at least one stage with a task).
std::vector<EventPayload> payloads_for(const Workflow& w);

}  // namespace wfstore::testutil
