// Model structs as dicts and as Model views (models.h): one table of fields
// per struct, read by both.

#include "python/src/models.h"

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>

namespace wfstore::python {
namespace {

// A string literal as a template argument.
template <std::size_t N>
struct Literal {
  constexpr Literal(const char (&text)[N]) { std::copy_n(text, N, chars); }
  char chars[N];
};

// The interned Python str of a field name, made on first use and kept for
// the process: a converted workflow repeats each key once per stage or task,
// and an interned key skips making, hashing and freeing a str each time (and
// a key written in Python source, interned too, is found by its pointer).
template <Literal Name>
PyObject* key() {
  static PyObject* const interned = PyUnicode_InternFromString(Name.chars);
  if (interned == nullptr) throw py::error_already_set();
  return interned;
}

template <Literal Key>
void set(py::dict& d, py::handle value) {
  if (PyDict_SetItem(d.ptr(), key<Key>(), value.ptr()) != 0) {
    throw py::error_already_set();
  }
}

// One field of struct T: its name, and its value as Python. `keep` is null
// for plain dicts (nested structs as dicts too) and the result's owner for a
// Model (nested stages and tasks as Models over it).
template <typename T>
struct Field {
  PyObject* (*name)();
  py::object (*get)(const T&, const Keep&);
  // The value is a list of nested structs (stages, tasks): a Model makes
  // their Models once and hands out a new list of them at each read.
  bool nested = false;
};

py::object json_value(const Json& value) { return json_to_py(value.value()); }

template <typename T>
py::list list_of(const std::vector<T>& items, const Keep& keep,
                 py::dict (*to_dict)(const T&)) {
  py::list out(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    py::object item = keep ? model_of(keep, items[i]) : to_dict(items[i]);
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i),
                    item.release().ptr());
  }
  return out;
}

py::object mi_config_to_py(const std::optional<MultiInstanceConfig>& config) {
  if (!config) return py::none();
  const MultiInstanceConfig& m = *config;
  py::dict d;
  set<"count">(d, py::int_(m.count));
  set<"count_from_context">(d, str_to_py(m.count_from_context));
  set<"sync_on_complete">(d, py::bool_(m.sync_on_complete));
  set<"allow_dynamic">(d, py::bool_(m.allow_dynamic));
  set<"collection_from_context">(d, str_to_py(m.collection_from_context));
  set<"join_threshold">(d, py::int_(m.join_threshold));
  set<"cancel_remaining">(d, py::bool_(m.cancel_remaining));
  return d;
}

py::object trigger_to_py(const Trigger& t) {
  py::dict d;
  set<"type">(d, str_to_py(t.type));
  set<"user">(d, str_to_py(t.user));
  set<"parameters">(d, json_value(t.parameters));
  set<"artifacts">(d, json_value(t.artifacts));
  set<"payload">(d, json_value(t.payload));
  return d;
}

py::object paused_to_py(const std::optional<PausedDetails>& paused) {
  if (!paused) return py::none();
  py::dict d;
  set<"paused_by">(d, str_to_py(paused->paused_by));
  set<"pause_time">(d, opt_int_to_py(paused->pause_time));
  set<"resume_time">(d, opt_int_to_py(paused->resume_time));
  set<"paused_ms">(d, py::int_(paused->paused_ms));
  return d;
}

using T = TaskExecution;
const Field<T> kTaskFields[] = {
    {&key<"id">, [](const T& t, const Keep&) { return str_to_py(t.id); }},
    {&key<"name">, [](const T& t, const Keep&) { return str_to_py(t.name); }},
    {&key<"implementing_class">,
     [](const T& t, const Keep&) { return str_to_py(t.implementing_class); }},
    {&key<"status">,
     [](const T& t, const Keep&) { return name_to_py(status_name(t.status)); }},
    {&key<"start_time">,
     [](const T& t, const Keep&) { return opt_int_to_py(t.start_time); }},
    {&key<"end_time">,
     [](const T& t, const Keep&) { return opt_int_to_py(t.end_time); }},
    {&key<"stage_start">,
     [](const T& t, const Keep&) -> py::object {
       return py::bool_(t.stage_start);
     }},
    {&key<"stage_end">,
     [](const T& t, const Keep&) -> py::object {
       return py::bool_(t.stage_end);
     }},
    {&key<"loop_start">,
     [](const T& t, const Keep&) -> py::object {
       return py::bool_(t.loop_start);
     }},
    {&key<"loop_end">,
     [](const T& t, const Keep&) -> py::object {
       return py::bool_(t.loop_end);
     }},
    {&key<"task_exception_details">,
     [](const T& t, const Keep&) {
       return json_value(t.task_exception_details);
     }},
    {&key<"version">,
     [](const T& t, const Keep&) -> py::object { return py::int_(t.version); }},
};

using S = StageExecution;
const Field<S> kStageFields[] = {
    {&key<"id">, [](const S& s, const Keep&) { return str_to_py(s.id); }},
    {&key<"execution_id">,
     [](const S& s, const Keep&) { return str_to_py(s.execution_id); }},
    {&key<"ref_id">,
     [](const S& s, const Keep&) { return str_to_py(s.ref_id); }},
    {&key<"type">, [](const S& s, const Keep&) { return str_to_py(s.type); }},
    {&key<"name">, [](const S& s, const Keep&) { return str_to_py(s.name); }},
    {&key<"status">,
     [](const S& s, const Keep&) { return name_to_py(status_name(s.status)); }},
    {&key<"context">,
     [](const S& s, const Keep&) { return json_value(s.context); }},
    {&key<"outputs">,
     [](const S& s, const Keep&) { return json_value(s.outputs); }},
    {&key<"tasks">,
     [](const S& s, const Keep& keep) -> py::object {
       return list_of(s.tasks, keep, &task_to_dict);
     },
     true},
    {&key<"requisite_stage_ref_ids">,
     [](const S& s, const Keep&) -> py::object {
       py::set refs;
       for (const auto& ref : s.requisite_stage_ref_ids) {
         refs.add(str_to_py(ref));
       }
       return refs;
     }},
    {&key<"parent_stage_id">,
     [](const S& s, const Keep&) { return opt_str_to_py(s.parent_stage_id); }},
    {&key<"synthetic_stage_owner">,
     [](const S& s, const Keep&) {
       return s.synthetic_stage_owner ? name_to_py(synthetic_stage_owner_name(
                                            *s.synthetic_stage_owner))
                                      : py::none();
     }},
    {&key<"start_time">,
     [](const S& s, const Keep&) { return opt_int_to_py(s.start_time); }},
    {&key<"end_time">,
     [](const S& s, const Keep&) { return opt_int_to_py(s.end_time); }},
    {&key<"start_time_expiry">,
     [](const S& s, const Keep&) {
       return opt_int_to_py(s.start_time_expiry);
     }},
    {&key<"scheduled_time">,
     [](const S& s, const Keep&) { return opt_int_to_py(s.scheduled_time); }},
    {&key<"version">,
     [](const S& s, const Keep&) -> py::object { return py::int_(s.version); }},
    {&key<"join_type">,
     [](const S& s, const Keep&) {
       return name_to_py(join_type_name(s.join_type));
     }},
    {&key<"join_threshold">,
     [](const S& s, const Keep&) -> py::object {
       return py::int_(s.join_threshold);
     }},
    {&key<"split_type">,
     [](const S& s, const Keep&) {
       return name_to_py(split_type_name(s.split_type));
     }},
    {&key<"split_conditions">,
     [](const S& s, const Keep&) -> py::object {
       py::dict conditions;
       for (const auto& [k, v] : s.split_conditions) {
         if (PyDict_SetItem(conditions.ptr(), str_to_py(k).ptr(),
                            str_to_py(v).ptr()) != 0) {
           throw py::error_already_set();
         }
       }
       return conditions;
     }},
    {&key<"mi_config">,
     [](const S& s, const Keep&) { return mi_config_to_py(s.mi_config); }},
    {&key<"deferred_choice_group">,
     [](const S& s, const Keep&) {
       return opt_str_to_py(s.deferred_choice_group);
     }},
    {&key<"milestone_ref_id">,
     [](const S& s, const Keep&) { return opt_str_to_py(s.milestone_ref_id); }},
    {&key<"milestone_status">,
     [](const S& s, const Keep&) { return opt_str_to_py(s.milestone_status); }},
    {&key<"mutex_key">,
     [](const S& s, const Keep&) { return opt_str_to_py(s.mutex_key); }},
    {&key<"cancel_region">,
     [](const S& s, const Keep&) { return opt_str_to_py(s.cancel_region); }},
};

using W = Workflow;
const Field<W> kWorkflowFields[] = {
    {&key<"id">, [](const W& w, const Keep&) { return str_to_py(w.id); }},
    {&key<"type">,
     [](const W& w, const Keep&) {
       return name_to_py(workflow_type_name(w.type));
     }},
    {&key<"application">,
     [](const W& w, const Keep&) { return str_to_py(w.application); }},
    {&key<"name">, [](const W& w, const Keep&) { return str_to_py(w.name); }},
    {&key<"status">,
     [](const W& w, const Keep&) { return name_to_py(status_name(w.status)); }},
    {&key<"stages">,
     [](const W& w, const Keep& keep) -> py::object {
       return list_of(w.stages, keep, &stage_to_dict);
     },
     true},
    {&key<"context">,
     [](const W& w, const Keep&) { return json_value(w.context); }},
    {&key<"trigger">,
     [](const W& w, const Keep&) { return trigger_to_py(w.trigger); }},
    {&key<"start_time">,
     [](const W& w, const Keep&) { return opt_int_to_py(w.start_time); }},
    {&key<"end_time">,
     [](const W& w, const Keep&) { return opt_int_to_py(w.end_time); }},
    {&key<"start_time_expiry">,
     [](const W& w, const Keep&) {
       return opt_int_to_py(w.start_time_expiry);
     }},
    {&key<"is_canceled">,
     [](const W& w, const Keep&) -> py::object {
       return py::bool_(w.is_canceled);
     }},
    {&key<"canceled_by">,
     [](const W& w, const Keep&) { return opt_str_to_py(w.canceled_by); }},
    {&key<"cancellation_reason">,
     [](const W& w, const Keep&) {
       return opt_str_to_py(w.cancellation_reason);
     }},
    {&key<"paused">,
     [](const W& w, const Keep&) { return paused_to_py(w.paused); }},
    {&key<"pipeline_config_id">,
     [](const W& w, const Keep&) {
       return opt_str_to_py(w.pipeline_config_id);
     }},
    {&key<"is_limit_concurrent">,
     [](const W& w, const Keep&) -> py::object {
       return py::bool_(w.is_limit_concurrent);
     }},
    {&key<"max_concurrent_executions">,
     [](const W& w, const Keep&) -> py::object {
       return py::int_(w.max_concurrent_executions);
     }},
    {&key<"keep_waiting_pipelines">,
     [](const W& w, const Keep&) -> py::object {
       return py::bool_(w.keep_waiting_pipelines);
     }},
    {&key<"origin">,
     [](const W& w, const Keep&) { return str_to_py(w.origin); }},
};

template <typename U>
std::span<const Field<U>> fields_of();
template <>
std::span<const Field<T>> fields_of<T>() {
  return kTaskFields;
}
template <>
std::span<const Field<S>> fields_of<S>() {
  return kStageFields;
}
template <>
std::span<const Field<W>> fields_of<W>() {
  return kWorkflowFields;
}

// The struct's name in a Model's repr.
template <typename U>
constexpr const char* kModelName = nullptr;
template <>
constexpr const char* kModelName<T> = "TaskExecution";
template <>
constexpr const char* kModelName<S> = "StageExecution";
template <>
constexpr const char* kModelName<W> = "Workflow";

template <typename U>
py::dict dict_of(const U& object) {
  py::dict d;
  for (const Field<U>& f : fields_of<U>()) {
    if (PyDict_SetItem(d.ptr(), f.name(), f.get(object, nullptr).ptr()) != 0) {
      throw py::error_already_set();
    }
  }
  return d;
}

// What a Model needs of its struct's type, without knowing it.
struct Kind {
  const char* name;
  std::size_t size;
  std::size_t nested;  // the index of the nested field, or size
  PyObject* (*key)(std::size_t i);
  py::object (*value)(const void* object, std::size_t i, const Keep& keep);
  py::dict (*to_dict)(const void* object);
};

template <typename U>
const Kind& kind_of() {
  static_assert(kModelName<U> != nullptr, "a Model of a struct without a name");
  static const Kind kind{
      kModelName<U>,
      fields_of<U>().size(),
      static_cast<std::size_t>(
          std::find_if(fields_of<U>().begin(), fields_of<U>().end(),
                       [](const Field<U>& f) { return f.nested; }) -
          fields_of<U>().begin()),
      [](std::size_t i) { return fields_of<U>()[i].name(); },
      [](const void* object, std::size_t i, const Keep& keep) {
        return fields_of<U>()[i].get(*static_cast<const U*>(object), keep);
      },
      [](const void* object) {
        return dict_of(*static_cast<const U*>(object));
      },
  };
  return kind;
}

// The Python class wfstore.Model: a read-only mapping of one struct's
// fields, each converted when read (the nested structs' Models once, kept
// for the next read). Immutable, so copies are itself.
class Model {
 public:
  Model(Keep keep, const void* object, const Kind& kind)
      : keep_(std::move(keep)), object_(object), kind_(&kind) {}

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // The field's index, or npos (a key that is not a str included).
  std::size_t find(py::handle key) const {
    for (std::size_t i = 0; i < kind_->size; ++i) {
      if (kind_->key(i) == key.ptr()) return i;
    }
    if (PyUnicode_Check(key.ptr()) == 0) return npos;
    for (std::size_t i = 0; i < kind_->size; ++i) {
      if (PyUnicode_Compare(kind_->key(i), key.ptr()) == 0) return i;
    }
    return npos;
  }

  std::size_t size() const { return kind_->size; }
  py::object key(std::size_t i) const {
    return py::reinterpret_borrow<py::object>(kind_->key(i));
  }
  py::object value(std::size_t i) const {
    if (i != kind_->nested) return kind_->value(object_, i, keep_);
    if (!nested_) nested_ = kind_->value(object_, i, keep_);
    // A new list, so a caller changing it changes no later read's.
    PyObject* copy = PyList_GetSlice(nested_.ptr(), 0, PY_SSIZE_T_MAX);
    if (copy == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(copy);
  }
  py::dict to_dict() const { return kind_->to_dict(object_); }
  const char* kind_name() const { return kind_->name; }

 private:
  Keep keep_;
  const void* object_;
  const Kind* kind_;
  mutable py::object nested_;  // the nested structs' Models, once read
};

py::object get_item(const Model& m, py::handle key) {
  const std::size_t i = m.find(key);
  if (i == Model::npos) {
    PyErr_SetObject(PyExc_KeyError, key.ptr());  // the key itself, as a dict
    throw py::error_already_set();
  }
  return m.value(i);
}

template <typename U>
py::object make_model(Keep keep, const U& object) {
  return py::cast(Model(std::move(keep), &object, kind_of<U>()));
}

py::list keys_of(const Model& m) {
  py::list out(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i),
                    m.key(i).release().ptr());
  }
  return out;
}

}  // namespace

py::dict task_to_dict(const TaskExecution& task) { return dict_of(task); }
py::dict stage_to_dict(const StageExecution& stage) { return dict_of(stage); }
py::dict workflow_to_dict(const Workflow& workflow) {
  return dict_of(workflow);
}

py::object model_of(Keep keep, const Workflow& object) {
  return make_model(std::move(keep), object);
}

py::object model_of(Keep keep, const StageExecution& object) {
  return make_model(std::move(keep), object);
}

py::object model_of(Keep keep, const TaskExecution& object) {
  return make_model(std::move(keep), object);
}

py::object model_of(Workflow&& workflow) {
  auto owned = std::make_shared<const Workflow>(std::move(workflow));
  const Workflow& w = *owned;
  return model_of(std::move(owned), w);
}

void define_model(py::module_& m) {
  py::class_<Model>(m, "Model")
      .def("__getitem__", &get_item)
      .def(
          "get",
          [](const Model& self, py::handle key, py::object fallback) {
            const std::size_t i = self.find(key);
            return i == Model::npos ? fallback : self.value(i);
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("__contains__",
           [](const Model& self, py::handle key) {
             return self.find(key) != Model::npos;
           })
      .def("__len__", &Model::size)
      .def("__iter__",
           [](const Model& self) { return py::iter(keys_of(self)); })
      .def("to_dict", &Model::to_dict)
      .def("__eq__",
           [](const Model& self, py::handle other) -> py::object {
             if (py::isinstance<Model>(other)) {
               return py::bool_(
                   self.to_dict().equal(other.cast<const Model&>().to_dict()));
             }
             if (PyDict_Check(other.ptr()) != 0) {
               return py::bool_(self.to_dict().equal(other));
             }
             return py::reinterpret_borrow<py::object>(Py_NotImplemented);
           })
      // __repr__ is a Python function over this (wfstore/__init__.py):
      // pprint looks a type's __repr__ up in a dict, and pybind11's methods
      // are not hashable.
      .def("_repr",
           [](const Model& self) {
             return std::string(self.kind_name()) + "(" +
                    std::string(py::str(py::repr(self.to_dict()))) + ")";
           })
      .def("__reduce__",
           [](const Model& self) {
             // Pickled as its plain form: unpickled, it is a dict.
             return py::make_tuple(
                 py::reinterpret_borrow<py::object>(
                     reinterpret_cast<PyObject*>(&PyDict_Type)),
                 py::make_tuple(self.to_dict()));
           })
      .def("__copy__", [](py::object self) { return self; })
      .def("__deepcopy__",
           [](py::object self, py::handle /*memo*/) { return self; });
}

}  // namespace wfstore::python
