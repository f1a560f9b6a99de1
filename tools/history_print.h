// The output of the history subcommands, shared with the demo: a workflow's
// events (`history`), a workflow as of an LSN (`show`) and a diff (`diff`).

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "wfstore/history.h"
#include "wfstore/model.h"
#include "wfstore/projections.h"

namespace wfstore::tools {

// Prints every event of `workflow_id`, one line each (LSN, time, actor, type,
// entity, what changed), or with `json` one event_to_json document per line.
// Throws ToolError(kExitNotFound) when the workflow has no events.
void print_workflow_history(const History& history,
                            const std::string& workflow_id, bool json);

// Prints `workflow` as of `as_of_lsn`: a table, or with `json` one document
// (workflow_to_json plus "as_of_lsn").
void print_workflow(const Workflow& workflow, std::uint64_t as_of_lsn,
                    bool json);

// Prints `diff`: one line per changed field, or with `json` one document.
void print_diff(const WorkflowDiff& diff, bool json);

// Prints `timeline`: a header, one line per entry and one per stage, or with
// `json` its to_json() document.
void print_timeline(const WorkflowTimeline& timeline, bool json);

// Writes the timeline picture (render_timeline_svg) to `file`, replacing
// it. Throws ToolError(kExitNotFound) when the file's directory does not
// exist, ToolError(kExitError) when it cannot be written.
void write_timeline_svg(const WorkflowTimeline& timeline,
                        const std::filesystem::path& file);

}  // namespace wfstore::tools
