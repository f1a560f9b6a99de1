// The probe: a test-only event type (0xFF01) with two schema versions, for
// the upcasting tests. Version 1 held the status as a name in
// `legacy_status`; version 2 holds `status` as the model's integer plus the
// times, which is WorkflowStatusSet's layout, so its decoder yields a
// WorkflowStatusSet.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "events/catalogue/codec_primitives.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore::testutil {

inline constexpr auto kProbeType = static_cast<EventType>(0xFF01);

// A version 1 probe payload.
inline std::string probe_v1(std::string_view workflow_id,
                            std::string_view legacy_status) {
  std::string out;
  codec::Writer w(out);
  w.bytes(workflow_id);
  w.bytes(legacy_status);
  return out;
}

// The registered v1 -> v2 step. Throws CorruptionError for an unknown status
// name.
inline std::string probe_v1_to_v2(std::string_view v1) {
  codec::Reader r(v1, "probe v1 payload");
  const std::string workflow_id = r.str("workflow_id");
  const std::string legacy_status = r.str("legacy_status");
  r.expect_end();
  const std::optional<WorkflowStatus> status = find_status(legacy_status);
  if (!status)
    r.fail("legacy_status", "unknown status '" + legacy_status + "'");
  std::string v2;
  codec::Writer w(v2);
  w.bytes(workflow_id);
  w.u8(static_cast<std::uint8_t>(*status));
  w.boolean(false);
  w.boolean(false);
  return v2;
}

// Registers the probe at version 2 with its v1 -> v2 upcaster. Undo with
// reset_event_registry_for_testing().
inline void register_probe() {
  register_event_type_for_testing(kProbeType, 2, [](std::string_view p) {
    return decode_payload(EventType::kWorkflowStatusSet, 1, p);
  });
  register_upcaster(kProbeType, 1, probe_v1_to_v2);
}

}  // namespace wfstore::testutil
