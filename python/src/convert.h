// Conversions between Python objects and wfstore's values for the binding:
// JSON values to and from Python objects directly (no JSON text in between),
// model structs read from any object with the model's attribute names (a
// stabilize object or the binding's own); models.h writes model structs.
//
// Every function requires the GIL. Bad input throws InvalidArgumentError whose
// message names the field ("workflow.stages[1].tasks[0].status: ...").

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "wfstore/message.h"
#include "wfstore/model.h"

#include <pybind11/pybind11.h>

namespace wfstore::python {

namespace py = pybind11;

// A field's path, built into a string only when an error names it.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;    // appended as ".name" (or as is at the root)
  std::int64_t index = -1;  // >= 0: appended as "[index]" after name

  std::string str() const;
};

// How values outside JSON are stored: `fallback` (a callable, or None) is
// called with the value and its result stored instead, as json.dumps's
// `default`; with None such a value is an error.
struct ConvertOptions {
  py::object fallback;
};

// The Python value as JSON: dict (str, int, float, bool and None keys, as
// json.dumps turns them into strings), list, tuple, str, int (int64 or
// uint64), finite float, bool, None. Throws InvalidArgumentError naming the
// path for anything else (after `fallback`), a surrogate in a string, an
// integer past uint64 or below int64, NaN or infinity, nesting past 1000.
nlohmann::json json_from_py(py::handle value, const Path& path,
                            const ConvertOptions& options, int depth = 0);
// The JSON value as Python objects (dict, list, str, int, float, bool, None).
py::object json_to_py(const nlohmann::json& value);

// A str attribute's UTF-8 bytes; InvalidArgumentError for another type or a
// surrogate.
std::string str_from_py(py::handle value, const Path& path);

// Model structs from objects with the model's attribute names. Enum fields
// take an enum (its .name) or its name as str.
TaskExecution task_from_py(py::handle obj, const Path& path,
                           const ConvertOptions& options);
// `execution_id`: the workflow's id; nullopt reads obj.execution_id.
StageExecution stage_from_py(py::handle obj, const Path& path,
                             const ConvertOptions& options,
                             std::optional<std::string> execution_id);
Workflow workflow_from_py(py::handle obj, const ConvertOptions& options);
// Only the fields update_status reads (id, status, start_time, end_time,
// is_canceled, canceled_by, cancellation_reason, paused); `full` false reads
// id, status, start_time and end_time only (a transaction's status update).
Workflow workflow_status_from_py(py::handle obj, bool full);
// Criteria from an object with page_size, statuses, start_time_before and
// start_time_after (None: no criteria).
std::optional<WorkflowCriteria> criteria_from_py(py::handle obj);

// Stored strings as str (bytes that are not UTF-8 surrogate-escaped, as
// os.fsdecode does); None for nullopt.
py::object str_to_py(const std::string& value);
py::object opt_str_to_py(const std::optional<std::string>& value);
py::object opt_int_to_py(const std::optional<std::int64_t>& value);
// An enum's name (the model's *_name functions) as an interned str made once
// per name and kept for the process.
py::object name_to_py(std::string_view name);

// A message from its type name and field dict (the reference's wire form).
Message message_from_py(std::string_view type_name, py::handle fields,
                        std::optional<int> max_attempts);
// The message's fields as the reference's wire dict without its metadata
// (message_id, created_at, attempts, max_attempts).
py::dict message_fields_to_py(const Message& message);

// A str argument of a bound function, as UTF-8. Its caster takes a str (or
// bytes or bytearray, as pybind11's std::string caster does) and throws
// InvalidArgumentError for a str holding a surrogate, which cannot be UTF-8,
// instead of pybind11's TypeError about incompatible arguments.
struct Utf8 : std::string {};

}  // namespace wfstore::python

namespace pybind11::detail {

template <>
struct type_caster<wfstore::python::Utf8> {
  PYBIND11_TYPE_CASTER(wfstore::python::Utf8, const_name("str"));

  // Throws InvalidArgumentError (a str with a surrogate).
  bool load(handle src, bool convert);
};

}  // namespace pybind11::detail
