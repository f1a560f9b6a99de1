#include "python/src/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wfstore/errors.h"

namespace wfstore::python {

namespace {

constexpr int kMaxDepth = 1000;

[[noreturn]] void bad(const Path& path, const std::string& what) {
  throw InvalidArgumentError(path.str() + ": " + what);
}

std::string type_name(py::handle value) {
  return Py_TYPE(value.ptr())->tp_name;
}

// obj.<name>; InvalidArgumentError naming the field when it is missing.
py::object attr(py::handle obj, const char* name, const Path& path) {
  PyObject* result = PyObject_GetAttrString(obj.ptr(), name);
  if (result == nullptr) {
    PyErr_Clear();
    bad(Path{&path, name},
        std::string("missing attribute of ") + type_name(obj));
  }
  return py::reinterpret_steal<py::object>(result);
}

std::string get_str(py::handle obj, const char* name, const Path& path) {
  return str_from_py(attr(obj, name, path), Path{&path, name});
}

// obj.<name> converted by `convert`, or nullopt when it is None.
template <typename Convert>
auto get_optional(py::handle obj, const char* name, const Path& path,
                  Convert convert)
    -> std::optional<decltype(convert(obj, path))> {
  py::object value = attr(obj, name, path);
  if (value.is_none()) return std::nullopt;
  return convert(value, Path{&path, name});
}

std::optional<std::string> get_opt_str(py::handle obj, const char* name,
                                       const Path& path) {
  return get_optional(obj, name, path, str_from_py);
}

std::int64_t int_from_py(py::handle value, const Path& path) {
  if (!PyLong_Check(value.ptr())) {
    bad(path, "expected int, got " + type_name(value));
  }
  int overflow = 0;
  long long result = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0) bad(path, "integer out of the int64 range");
  if (result == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    bad(path, "not an integer");
  }
  return result;
}

std::int64_t get_int(py::handle obj, const char* name, const Path& path) {
  return int_from_py(attr(obj, name, path), Path{&path, name});
}

std::optional<std::int64_t> get_opt_int(py::handle obj, const char* name,
                                        const Path& path) {
  return get_optional(obj, name, path, int_from_py);
}

bool get_bool(py::handle obj, const char* name, const Path& path) {
  py::object value = attr(obj, name, path);
  // bool, or an int as SQLite's 0/1 (bool is a subclass of int).
  if (!PyLong_Check(value.ptr())) {
    bad(Path{&path, name}, "expected bool, got " + type_name(value));
  }
  return int_from_py(value, Path{&path, name}) != 0;
}

// An enum's name: a str, or an object whose .name is a str.
std::string enum_from_py(py::handle value, const Path& path) {
  if (PyUnicode_Check(value.ptr())) return str_from_py(value, path);
  PyObject* name = PyObject_GetAttrString(value.ptr(), "name");
  if (name == nullptr || !PyUnicode_Check(name)) {
    Py_XDECREF(name);
    PyErr_Clear();
    bad(path, "expected an enum or its name, got " + type_name(value));
  }
  py::object owned = py::reinterpret_steal<py::object>(name);
  return str_from_py(owned, path);
}

std::string get_enum(py::handle obj, const char* name, const Path& path) {
  return enum_from_py(attr(obj, name, path), Path{&path, name});
}

Json get_json(py::handle obj, const char* name, const Path& path,
              const ConvertOptions& options) {
  Path field{&path, name};
  return Json(json_from_py(attr(obj, name, path), field, options));
}

// A JSON object key as json.dumps writes it.
std::string key_from_py(py::handle key, const Path& path) {
  PyObject* k = key.ptr();
  if (PyUnicode_Check(k)) return str_from_py(key, path);
  if (k == Py_True) return "true";
  if (k == Py_False) return "false";
  if (k == Py_None) return "null";
  if (PyLong_Check(k) || PyFloat_Check(k)) {
    if (PyFloat_Check(k) && !std::isfinite(PyFloat_AS_DOUBLE(k))) {
      bad(path, "a NaN or infinite key is not JSON");
    }
    // int.__repr__ / float.__repr__, as json.dumps.
    PyObject* text =
        PyLong_Check(k) ? PyLong_Type.tp_repr(k) : PyFloat_Type.tp_repr(k);
    if (text == nullptr) throw py::error_already_set();
    return str_from_py(py::reinterpret_steal<py::object>(text), path);
  }
  bad(path, "a key of type " + type_name(key) + " is not JSON");
}

// Runs fn over each item of an iterable, with its index.
template <typename Fn>
void for_each_item(py::handle iterable, const Path& path, Fn&& fn) {
  PyObject* it = PyObject_GetIter(iterable.ptr());
  if (it == nullptr) {
    PyErr_Clear();
    bad(path, "expected an iterable, got " + type_name(iterable));
  }
  py::object owned = py::reinterpret_steal<py::object>(it);
  std::int64_t index = 0;
  while (PyObject* item = PyIter_Next(it)) {
    py::object value = py::reinterpret_steal<py::object>(item);
    fn(value, index++);
  }
  if (PyErr_Occurred()) throw py::error_already_set();
}

}  // namespace

py::object str_to_py(const std::string& value) {
  return py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(
      value.data(), static_cast<Py_ssize_t>(value.size()), "surrogateescape"));
}

py::object opt_str_to_py(const std::optional<std::string>& value) {
  return value ? str_to_py(*value) : py::none();
}

py::object opt_int_to_py(const std::optional<std::int64_t>& value) {
  if (!value) return py::none();
  return py::int_(*value);
}

py::object name_to_py(std::string_view name) {
  static std::map<std::string, py::handle, std::less<>> names;
  auto it = names.find(name);
  if (it == names.end()) {
    PyObject* interned = PyUnicode_FromStringAndSize(
        name.data(), static_cast<Py_ssize_t>(name.size()));
    if (interned == nullptr) throw py::error_already_set();
    PyUnicode_InternInPlace(&interned);
    it = names.emplace(std::string(name), interned).first;
  }
  return py::reinterpret_borrow<py::object>(it->second);
}

std::string Path::str() const {
  // Root first. A path deeper than kHead + kTail segments (a value nested
  // past the depth limit) keeps its first and last segments.
  constexpr std::size_t kHead = 8;
  constexpr std::size_t kTail = 8;
  std::vector<const Path*> nodes;
  for (const Path* p = this; p != nullptr; p = p->parent) nodes.push_back(p);
  std::reverse(nodes.begin(), nodes.end());
  std::string out;
  const auto append = [&out](const Path& p) {
    if (!p.name.empty()) {
      if (!out.empty()) out += '.';
      out.append(p.name);
    }
    if (p.index >= 0) out += "[" + std::to_string(p.index) + "]";
  };
  const bool elide = nodes.size() > kHead + kTail + 1;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (elide && i == kHead) {
      const std::size_t skipped = nodes.size() - kHead - kTail;
      out += "[... " + std::to_string(skipped) + " more levels ...]";
      i += skipped - 1;
      continue;
    }
    append(*nodes[i]);
  }
  return out;
}

std::string str_from_py(py::handle value, const Path& path) {
  if (!PyUnicode_Check(value.ptr())) {
    bad(path, "expected str, got " + type_name(value));
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
  if (data == nullptr) {
    PyErr_Clear();
    bad(path, "string is not valid UTF-8 (it holds a surrogate)");
  }
  return std::string(data, static_cast<std::size_t>(size));
}

nlohmann::json json_from_py(py::handle value, const Path& path,
                            const ConvertOptions& options, int depth) {
  if (depth > kMaxDepth) bad(path, "nested too deeply (a cycle?)");
  PyObject* v = value.ptr();
  if (v == Py_None) return nullptr;
  if (PyBool_Check(v)) return v == Py_True;
  if (PyLong_Check(v)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0) {
      if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
      return static_cast<std::int64_t>(i);
    }
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(v);
      if (!PyErr_Occurred()) return static_cast<std::uint64_t>(u);
      PyErr_Clear();
    }
    bad(path, "integer out of the int64/uint64 range");
  }
  if (PyFloat_Check(v)) {
    double d = PyFloat_AS_DOUBLE(v);
    if (!std::isfinite(d)) bad(path, "NaN or infinity is not JSON");
    return d;
  }
  if (PyUnicode_Check(v)) return str_from_py(value, path);
  // Items are held while converted: `fallback` runs Python code, which may
  // change the containers being read (as json.dumps, a dict changing size is
  // an error; a list is read as it is at each index).
  if (PyDict_Check(v)) {
    nlohmann::json out = nlohmann::json::object();
    PyObject* key = nullptr;
    PyObject* item = nullptr;
    Py_ssize_t pos = 0;
    const Py_ssize_t size = PyDict_Size(v);
    while (PyDict_Next(v, &pos, &key, &item)) {
      py::object held_key = py::reinterpret_borrow<py::object>(key);
      py::object held_item = py::reinterpret_borrow<py::object>(item);
      std::string k = key_from_py(held_key, path);
      Path child{&path, k};
      out[k] = json_from_py(held_item, child, options, depth + 1);
      if (PyDict_Size(v) != size) {
        bad(path, "dict changed size during conversion");
      }
    }
    return out;
  }
  if (PyList_Check(v) || PyTuple_Check(v)) {
    nlohmann::json out = nlohmann::json::array();
    out.get_ref<nlohmann::json::array_t&>().reserve(
        static_cast<std::size_t>(PySequence_Fast_GET_SIZE(v)));
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(v); ++i) {
      py::object item =
          py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(v, i));
      Path child{&path, {}, i};
      out.push_back(json_from_py(item, child, options, depth + 1));
    }
    return out;
  }
  if (options.fallback && !options.fallback.is_none()) {
    py::object replaced = options.fallback(value);
    return json_from_py(replaced, path, ConvertOptions{}, depth + 1);
  }
  bad(path, "a value of type " + type_name(value) + " is not JSON");
}

py::object json_to_py(const nlohmann::json& value) {
  using T = nlohmann::json::value_t;
  switch (value.type()) {
    case T::null:
    case T::discarded:
      return py::none();
    case T::boolean:
      return py::bool_(value.get<bool>());
    case T::number_integer:
      return py::int_(value.get<std::int64_t>());
    case T::number_unsigned:
      return py::int_(value.get<std::uint64_t>());
    case T::number_float:
      return py::float_(value.get<double>());
    case T::string:
      return str_to_py(value.get_ref<const std::string&>());
    case T::array: {
      py::list out(value.size());
      std::size_t i = 0;
      for (const auto& item : value) {
        PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i++),
                        json_to_py(item).release().ptr());
      }
      return out;
    }
    case T::object: {
      py::dict out;
      for (const auto& [k, item] : value.items()) {
        py::object key = str_to_py(k);
        if (PyDict_SetItem(out.ptr(), key.ptr(), json_to_py(item).ptr()) != 0) {
          throw py::error_already_set();
        }
      }
      return out;
    }
    case T::binary:
      break;
  }
  throw InvalidArgumentError("json: binary values have no Python form");
}

TaskExecution task_from_py(py::handle obj, const Path& path,
                           const ConvertOptions& options) {
  TaskExecution t;
  t.id = get_str(obj, "id", path);
  t.name = get_str(obj, "name", path);
  t.implementing_class = get_str(obj, "implementing_class", path);
  t.status =
      parse_status(get_enum(obj, "status", path), Path{&path, "status"}.str());
  t.start_time = get_opt_int(obj, "start_time", path);
  t.end_time = get_opt_int(obj, "end_time", path);
  t.stage_start = get_bool(obj, "stage_start", path);
  t.stage_end = get_bool(obj, "stage_end", path);
  t.loop_start = get_bool(obj, "loop_start", path);
  t.loop_end = get_bool(obj, "loop_end", path);
  t.task_exception_details =
      get_json(obj, "task_exception_details", path, options);
  t.version = get_int(obj, "version", path);
  return t;
}

StageExecution stage_from_py(py::handle obj, const Path& path,
                             const ConvertOptions& options,
                             std::optional<std::string> execution_id) {
  StageExecution s;
  s.id = get_str(obj, "id", path);
  s.execution_id = execution_id ? std::move(*execution_id)
                                : get_str(obj, "execution_id", path);
  s.ref_id = get_str(obj, "ref_id", path);
  s.type = get_str(obj, "type", path);
  s.name = get_str(obj, "name", path);
  s.status =
      parse_status(get_enum(obj, "status", path), Path{&path, "status"}.str());
  s.context = get_json(obj, "context", path, options);
  s.outputs = get_json(obj, "outputs", path, options);
  Path tasks_path{&path, "tasks"};
  for_each_item(attr(obj, "tasks", path), tasks_path,
                [&](py::handle task, std::int64_t i) {
                  Path p{&path, "tasks", i};
                  s.tasks.push_back(task_from_py(task, p, options));
                });
  Path req_path{&path, "requisite_stage_ref_ids"};
  for_each_item(attr(obj, "requisite_stage_ref_ids", path), req_path,
                [&](py::handle ref, std::int64_t i) {
                  Path p{&path, "requisite_stage_ref_ids", i};
                  s.requisite_stage_ref_ids.insert(str_from_py(ref, p));
                });
  s.parent_stage_id = get_opt_str(obj, "parent_stage_id", path);
  py::object owner = attr(obj, "synthetic_stage_owner", path);
  if (!owner.is_none()) {
    Path p{&path, "synthetic_stage_owner"};
    s.synthetic_stage_owner =
        parse_synthetic_stage_owner(enum_from_py(owner, p), p.str());
  }
  s.start_time = get_opt_int(obj, "start_time", path);
  s.end_time = get_opt_int(obj, "end_time", path);
  s.start_time_expiry = get_opt_int(obj, "start_time_expiry", path);
  s.scheduled_time = get_opt_int(obj, "scheduled_time", path);
  s.version = get_int(obj, "version", path);
  s.join_type = parse_join_type(get_enum(obj, "join_type", path),
                                Path{&path, "join_type"}.str());
  s.join_threshold = get_int(obj, "join_threshold", path);
  s.split_type = parse_split_type(get_enum(obj, "split_type", path),
                                  Path{&path, "split_type"}.str());
  py::object conditions = attr(obj, "split_conditions", path);
  Path cond_path{&path, "split_conditions"};
  if (!PyDict_Check(conditions.ptr())) {
    bad(cond_path, "expected dict, got " + type_name(conditions));
  }
  for (auto [k, v] : py::reinterpret_borrow<py::dict>(conditions)) {
    std::string key = str_from_py(k, cond_path);
    Path p{&cond_path, key};
    s.split_conditions.emplace(std::move(key), str_from_py(v, p));
  }
  py::object mi = attr(obj, "mi_config", path);
  if (!mi.is_none()) {
    Path p{&path, "mi_config"};
    MultiInstanceConfig m;
    m.count = get_int(mi, "count", p);
    m.count_from_context = get_str(mi, "count_from_context", p);
    m.sync_on_complete = get_bool(mi, "sync_on_complete", p);
    m.allow_dynamic = get_bool(mi, "allow_dynamic", p);
    m.collection_from_context = get_str(mi, "collection_from_context", p);
    m.join_threshold = get_int(mi, "join_threshold", p);
    m.cancel_remaining = get_bool(mi, "cancel_remaining", p);
    s.mi_config = std::move(m);
  }
  s.deferred_choice_group = get_opt_str(obj, "deferred_choice_group", path);
  s.milestone_ref_id = get_opt_str(obj, "milestone_ref_id", path);
  s.milestone_status = get_opt_str(obj, "milestone_status", path);
  s.mutex_key = get_opt_str(obj, "mutex_key", path);
  s.cancel_region = get_opt_str(obj, "cancel_region", path);
  return s;
}

namespace {

std::optional<PausedDetails> paused_from_py(py::handle obj, const Path& path) {
  py::object paused = attr(obj, "paused", path);
  if (paused.is_none()) return std::nullopt;
  Path p{&path, "paused"};
  PausedDetails d;
  d.paused_by = get_str(paused, "paused_by", p);
  d.pause_time = get_opt_int(paused, "pause_time", p);
  d.resume_time = get_opt_int(paused, "resume_time", p);
  d.paused_ms = get_int(paused, "paused_ms", p);
  return d;
}

}  // namespace

Workflow workflow_from_py(py::handle obj, const ConvertOptions& options) {
  Path path{nullptr, "workflow"};
  Workflow w;
  w.id = get_str(obj, "id", path);
  w.type = parse_workflow_type(get_enum(obj, "type", path), "workflow.type");
  w.application = get_str(obj, "application", path);
  w.name = get_str(obj, "name", path);
  w.status = parse_status(get_enum(obj, "status", path), "workflow.status");
  w.context = get_json(obj, "context", path, options);
  py::object trigger = attr(obj, "trigger", path);
  Path tp{&path, "trigger"};
  w.trigger.type = get_str(trigger, "type", tp);
  w.trigger.user = get_str(trigger, "user", tp);
  w.trigger.parameters = get_json(trigger, "parameters", tp, options);
  w.trigger.artifacts = get_json(trigger, "artifacts", tp, options);
  w.trigger.payload = get_json(trigger, "payload", tp, options);
  w.start_time = get_opt_int(obj, "start_time", path);
  w.end_time = get_opt_int(obj, "end_time", path);
  w.start_time_expiry = get_opt_int(obj, "start_time_expiry", path);
  w.is_canceled = get_bool(obj, "is_canceled", path);
  w.canceled_by = get_opt_str(obj, "canceled_by", path);
  w.cancellation_reason = get_opt_str(obj, "cancellation_reason", path);
  w.paused = paused_from_py(obj, path);
  w.pipeline_config_id = get_opt_str(obj, "pipeline_config_id", path);
  w.is_limit_concurrent = get_bool(obj, "is_limit_concurrent", path);
  w.max_concurrent_executions = get_int(obj, "max_concurrent_executions", path);
  w.keep_waiting_pipelines = get_bool(obj, "keep_waiting_pipelines", path);
  w.origin = get_str(obj, "origin", path);
  Path stages_path{&path, "stages"};
  for_each_item(attr(obj, "stages", path), stages_path,
                [&](py::handle stage, std::int64_t i) {
                  Path p{&path, "stages", i};
                  w.stages.push_back(stage_from_py(stage, p, options, w.id));
                });
  return w;
}

Workflow workflow_status_from_py(py::handle obj, bool full) {
  Path path{nullptr, "workflow"};
  Workflow w;
  w.id = get_str(obj, "id", path);
  w.status = parse_status(get_enum(obj, "status", path), "workflow.status");
  w.start_time = get_opt_int(obj, "start_time", path);
  w.end_time = get_opt_int(obj, "end_time", path);
  if (full) {
    w.is_canceled = get_bool(obj, "is_canceled", path);
    w.canceled_by = get_opt_str(obj, "canceled_by", path);
    w.cancellation_reason = get_opt_str(obj, "cancellation_reason", path);
    w.paused = paused_from_py(obj, path);
  }
  return w;
}

std::optional<WorkflowCriteria> criteria_from_py(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  Path path{nullptr, "criteria"};
  WorkflowCriteria c;
  py::object page_size = attr(obj, "page_size", path);
  c.page_size = page_size.is_none()
                    ? 0
                    : int_from_py(page_size, Path{&path, "page_size"});
  py::object statuses = attr(obj, "statuses", path);
  if (!statuses.is_none()) {
    Path sp{&path, "statuses"};
    for_each_item(statuses, sp, [&](py::handle status, std::int64_t i) {
      Path p{&path, "statuses", i};
      c.statuses.insert(parse_status(enum_from_py(status, p), p.str()));
    });
  }
  c.start_time_before = get_opt_int(obj, "start_time_before", path);
  c.start_time_after = get_opt_int(obj, "start_time_after", path);
  return c;
}

Message message_from_py(std::string_view type_name, py::handle fields,
                        std::optional<int> max_attempts) {
  Path path{nullptr, type_name};
  if (!PyDict_Check(fields.ptr())) {
    bad(path, "expected a dict of fields, got " +
                  std::string(Py_TYPE(fields.ptr())->tp_name));
  }
  Message message = message_from_wire(
      type_name, json_from_py(fields, path, ConvertOptions{}));
  message_common(message).max_attempts = max_attempts;
  return message;
}

py::dict message_fields_to_py(const Message& message) {
  nlohmann::json wire = message_to_wire(message, 0);
  wire.erase("message_id");
  wire.erase("created_at");
  wire.erase("attempts");
  wire.erase("max_attempts");
  return py::reinterpret_steal<py::dict>(json_to_py(wire).release());
}

}  // namespace wfstore::python

namespace pybind11::detail {

bool type_caster<wfstore::python::Utf8>::load(handle src, bool /*convert*/) {
  if (PyBytes_Check(src.ptr()) != 0) {
    value.assign(PyBytes_AS_STRING(src.ptr()),
                 static_cast<std::size_t>(PyBytes_GET_SIZE(src.ptr())));
    return true;
  }
  if (PyByteArray_Check(src.ptr()) != 0) {
    value.assign(PyByteArray_AS_STRING(src.ptr()),
                 static_cast<std::size_t>(PyByteArray_GET_SIZE(src.ptr())));
    return true;
  }
  if (PyUnicode_Check(src.ptr()) == 0) return false;  // TypeError, as before
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(src.ptr(), &size);
  if (data == nullptr) {
    PyErr_Clear();
    // The argument quoted, its first 200 characters at most.
    constexpr Py_ssize_t kQuoted = 200;
    const Py_ssize_t length = PyUnicode_GetLength(src.ptr());
    const object quoted = reinterpret_borrow<object>(
        src)[pybind11::slice(0, std::min(length, kQuoted), 1)];
    std::string message =
        "a str argument is not valid UTF-8 (it holds a surrogate): " +
        std::string(pybind11::str(pybind11::repr(quoted)));
    if (length > kQuoted) {
      message += " ... (" + std::to_string(length) + " characters)";
    }
    throw wfstore::InvalidArgumentError(message);
  }
  value.assign(data, static_cast<std::size_t>(size));
  return true;
}

}  // namespace pybind11::detail
