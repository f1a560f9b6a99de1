// The timeline picture: a workflow's stages and tasks over time as a
// self-contained SVG document (docs/projections.md, "The timeline picture").
//
// One row per stage in the workflow's order, each with one bar (an SVG
// <rect data-stage="<id>" data-status="<STATUS>">) from the stage's start to
// its end (to the last event while it runs; a faint dashed bar across the
// chart when it never started), filled with its status's colour
// (timeline_status_color) and labelled with its name, status and duration;
// its tasks as thin bars under it (<rect data-task="<id>">). Retries are
// orange dots on a line (<g data-retry="<entity id>">), dead letters red
// crosses (<g data-dead-letter="<entity id>">), paused intervals hatched
// (<rect data-paused="workflow">, or data-paused="<stage id>" on a stage),
// cancel requests black diamonds on the workflow's row. An axis at the bottom
// gives the time since the first event. Every text is XML-escaped (a byte
// that is not part of a UTF-8 character becomes U+FFFD), so the document is
// well-formed XML for any input; it uses no external resource.
//
// Thread-safety: pure functions.

#pragma once

#include <string>
#include <string_view>

#include "wfstore/model.h"
#include "wfstore/projections.h"

namespace wfstore {

// The fixed palette, "#rrggbb": SUCCEEDED #2e7d32 (green), RUNNING #1565c0
// (blue), NOT_STARTED #bdbdbd (light grey), TERMINAL #c62828 (red),
// FAILED_CONTINUE #ef6c00 (orange), STOPPED #6a1b9a (purple), CANCELED
// #616161 (dark grey), SKIPPED #90a4ae (blue grey), PAUSED and SUSPENDED
// #f9a825 (amber), REDIRECT #00838f (teal), BUFFERED #8d6e63 (brown).
std::string_view timeline_status_color(WorkflowStatus status);

// `ms` as "850 ms", "1.25 s", "2 min 05 s", "3 h 07 min".
std::string format_duration_ms(std::int64_t ms);

// The SVG document of `timeline` (UTF-8, starting with "<svg").
std::string render_timeline_svg(const WorkflowTimeline& timeline);

}  // namespace wfstore
