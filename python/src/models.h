// The model structs (Workflow, StageExecution, TaskExecution) as Python
// objects, in two forms built from one table of fields per struct:
//
// - plain dicts, every field converted at once (`*_to_dict`);
// - `wfstore.Model`, a read-only mapping over a result kept in C++, whose
//   fields are converted when they are read. What the store returns is a
//   Model: a call costs what it costs in C++ plus one small object, and a
//   caller pays for the fields it reads. `to_dict()` makes the plain dicts.
//
// Keys are the model's field names; enums come as their names,
// requisite_stage_ref_ids as a set, mi_config, trigger and paused as dicts,
// JSON values (context, outputs, ...) as plain Python objects; in a Model,
// stages and tasks are lists of Models.
//
// Every function requires the GIL.

#pragma once

#include <memory>

#include "wfstore/model.h"

#include "python/src/convert.h"

namespace wfstore::python {

py::dict task_to_dict(const TaskExecution& task);
py::dict stage_to_dict(const StageExecution& stage);
py::dict workflow_to_dict(const Workflow& workflow);

// What keeps a Model's struct alive: the result it belongs to (the Model
// holds it, so the struct lives as long as any Model over it).
using Keep = std::shared_ptr<const void>;

// A Model over `object`, which `keep` keeps alive.
py::object model_of(Keep keep, const Workflow& object);
py::object model_of(Keep keep, const StageExecution& object);
py::object model_of(Keep keep, const TaskExecution& object);

// A Model over a workflow the caller hands over.
py::object model_of(Workflow&& workflow);

// Defines class Model in `m` (once, when the module is imported).
void define_model(py::module_& m);

}  // namespace wfstore::python
