// The _wfstore extension module: wfstore's Database with its WorkflowStore,
// transactions, queue, commit listeners and history API for Python
// (python/wfstore/_wfstore.pyi documents each call).
//
// Values cross as Python objects: model structs are read from any object with
// the model's attribute names and returned as Models (models.h); JSON values
// are converted directly, without JSON text. Every call that can wait (a
// commit and its fdatasync, a blocking poll, a read of the views) runs with
// the GIL released, after its arguments were converted and before its result
// is.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "python/src/convert.h"
#include "python/src/models.h"
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

namespace wfstore::python {
namespace {

using std::chrono::milliseconds;

// ---- exceptions ----

// The Python class of each ErrorCode (index = code).
PyObject* g_error_classes[16] = {};
PyObject* g_error_base = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases,
                        const char* doc) {
  std::string qualified = std::string("wfstore._wfstore.") + name;
  PyObject* cls =
      PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;
}

PyObject* bases(std::initializer_list<PyObject*> list) {
  PyObject* tuple = PyTuple_New(static_cast<Py_ssize_t>(list.size()));
  Py_ssize_t i = 0;
  for (PyObject* b : list) {
    Py_INCREF(b);
    PyTuple_SET_ITEM(tuple, i++, b);
  }
  return tuple;
}

void register_exceptions(py::module_& m) {
  g_error_base = new_exception(m, "Error", bases({PyExc_Exception}),
                               "Base of every wfstore error; .code is its "
                               "ErrorCode number.");
  PyObject* not_found = new_exception(m, "NotFoundError",
                                      bases({g_error_base, PyExc_LookupError}),
                                      "A missing entity.");
  auto add = [&](ErrorCode code, const char* name, PyObject* b,
                 const char* doc) {
    g_error_classes[static_cast<int>(code)] = new_exception(m, name, b, doc);
  };
  add(ErrorCode::kWorkflowNotFound, "WorkflowNotFoundError", bases({not_found}),
      "No workflow with that id; .workflow_id names it.");
  add(ErrorCode::kStageNotFound, "StageNotFoundError",
      bases({not_found, PyExc_ValueError}),
      "No stage with that id (the reference's ValueError).");
  add(ErrorCode::kConcurrency, "ConcurrencyError", bases({g_error_base}),
      "An optimistic-lock failure: nothing was changed.");
  add(ErrorCode::kDuplicate, "DuplicateError", bases({g_error_base}),
      "A workflow, stage id or ref_id that exists already.");
  add(ErrorCode::kInvalidArgument, "InvalidArgumentError",
      bases({g_error_base, PyExc_ValueError}),
      "Bad input; the message names the field. Nothing was changed.");
  add(ErrorCode::kCorruption, "CorruptionError", bases({g_error_base}),
      "Damaged files or encodings.");
  add(ErrorCode::kIO, "IOError", bases({g_error_base}),
      "Failed I/O or a closed store; a write's outcome is unknown.");
  add(ErrorCode::kStoreLocked, "StoreLockedError", bases({g_error_base}),
      "Another writer holds the store.");
  add(ErrorCode::kSubscriptionNotFound, "SubscriptionNotFoundError",
      bases({not_found}), "No durable subscription of that name.");
  add(ErrorCode::kSubscriberFailed, "SubscriberFailedError",
      bases({g_error_base}), "A subscription's handler failed.");
  add(ErrorCode::kKafkaTopicNotFound, "KafkaTopicNotFoundError",
      bases({not_found}), "No Kafka topic of that name.");

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      int code = static_cast<int>(e.code());
      PyObject* cls = code > 0 && code < 16 && g_error_classes[code] != nullptr
                          ? g_error_classes[code]
                          : g_error_base;
      // A message may quote bytes that are not UTF-8 (str parameters take
      // bytes too): escaped, so that the error keeps its class.
      auto text = [](const std::string& bytes, const char* errors) {
        PyObject* str = PyUnicode_DecodeUTF8(
            bytes.data(), static_cast<Py_ssize_t>(bytes.size()), errors);
        if (str == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(str);
      };
      py::object exc = py::reinterpret_borrow<py::object>(cls)(
          text(e.what(), "backslashreplace"));
      exc.attr("code") = code;
      if (const auto* nf = dynamic_cast<const WorkflowNotFoundError*>(&e)) {
        exc.attr("workflow_id") = text(nf->workflow_id(), "surrogateescape");
      }
      PyErr_SetObject(cls, exc.ptr());
    }
  });
}

// ---- the audit scope ----

// A Python AuditScope: entering it adds it to the scopes entered in the
// running context (a tuple, innermost last, in the context variable
// `audit_var`), so the scope belongs to the running thread or asyncio task, as
// Python's own context does (wfstore's C++ AuditScope is per OS thread and
// would be seen by every task on the thread, and lost or misplaced by a scope
// exited on another thread). The object itself keeps no state of its
// entries: one object may be entered in several threads at once, and a scope
// left entered in a context that ends is freed with it.
struct PyAuditScope {
  AuditFields fields;
};

// The context variable holding the tuple of entered PyAuditScopes; made at
// import, never freed.
PyObject* audit_var = nullptr;

// The scopes entered in the running context, innermost last.
py::tuple entered_scopes() {
  PyObject* value = nullptr;
  if (PyContextVar_Get(audit_var, nullptr, &value) != 0) {
    throw py::error_already_set();
  }
  if (value == nullptr) return py::tuple();
  return py::reinterpret_steal<py::tuple>(value);
}

void set_entered_scopes(const py::tuple& scopes) {
  PyObject* token = PyContextVar_Set(audit_var, scopes.ptr());
  if (token == nullptr) throw py::error_already_set();
  Py_DECREF(token);
}

void enter_scope(const py::object& self) {
  py::tuple scopes = entered_scopes();
  py::tuple entered(scopes.size() + 1);
  for (std::size_t i = 0; i < scopes.size(); ++i) entered[i] = scopes[i];
  entered[scopes.size()] = self;
  set_entered_scopes(entered);
}

// Ends the innermost entry of `self` in the running context (thread or task;
// a task starts with the scopes of the context that made it), whatever was
// entered after it: those stay entered. InvalidArgumentError (a ValueError)
// when it is not entered in this context; it then stays current where it is.
void exit_scope(const py::object& self) {
  py::tuple scopes = entered_scopes();
  std::size_t n = scopes.size();
  std::size_t gone = n;
  while (gone > 0 && scopes[gone - 1].ptr() != self.ptr()) --gone;
  if (gone == 0) {
    throw InvalidArgumentError(
        "AuditScope exited in a thread or task where it is not entered");
  }
  py::tuple rest(n - 1);
  for (std::size_t i = 0, j = 0; i < n; ++i) {
    if (i + 1 != gone) rest[j++] = scopes[i];
  }
  set_entered_scopes(rest);
}

// Releases the GIL around a call into the store, with the audit fields of the
// calling Python context applied (as a C++ AuditScope on this thread) while
// the call runs: none when the context has no scope, even inside a call that
// applied another context's (Python code the store calls back, such as
// for_each_event's visit, may run in any context). Construct with the GIL
// held.
class Unlocked {
 public:
  Unlocked() {
    py::tuple scopes = entered_scopes();
    if (!scopes.empty()) {
      audit_.emplace(scopes[scopes.size() - 1].cast<PyAuditScope&>().fields);
    } else if (const AuditFields& f = AuditScope::current();
               !f.actor.empty() || !f.correlation_id.empty() ||
               !f.causation_id.empty() || !f.source.empty()) {
      audit_.emplace(AuditFields{});
    }
    release_.emplace();
  }

 private:
  std::optional<AuditScope> audit_;  // destroyed after the GIL is taken back
  std::optional<py::gil_scoped_release> release_;
};

// ---- the store ----

// A Database and its one Queue, shared by the Python objects that use them,
// so that either may outlive the other and close() (after which every call
// throws IOError).
struct Store {
  std::unique_ptr<Database> db;
  std::unique_ptr<Queue> queue;
  std::mutex queue_mu;

  ~Store() {
    py::gil_scoped_release release;
    queue.reset();
    db.reset();
  }
  WorkflowStore& ws() { return db->workflow_store(); }
  Queue& get_queue() {
    std::lock_guard<std::mutex> lock(queue_mu);
    if (!queue) queue = std::make_unique<Queue>(*db);
    return *queue;
  }
};
using StorePtr = std::shared_ptr<Store>;

Durability durability_from(const std::string& name, const char* field) {
  if (name == "sync") return Durability::kSync;
  if (name == "buffered") return Durability::kBuffered;
  throw InvalidArgumentError(std::string(field) +
                             ": expected 'sync' or 'buffered', got '" + name +
                             "'");
}

ConvertOptions options_from(py::object fallback) {
  return ConvertOptions{std::move(fallback)};
}

// Writes the versions of `stage` and its tasks back to the Python objects
// they were read from, where they differ.
void write_back_versions(const StageExecution& stage, py::handle obj,
                         const std::vector<py::object>& task_objs) {
  py::object version = obj.attr("version");
  if (version.cast<std::int64_t>() != stage.version) {
    obj.attr("version") = stage.version;
  }
  for (std::size_t i = 0; i < task_objs.size() && i < stage.tasks.size(); ++i) {
    if (task_objs[i].attr("version").cast<std::int64_t>() !=
        stage.tasks[i].version) {
      task_objs[i].attr("version") = stage.tasks[i].version;
    }
  }
}

std::vector<py::object> task_objects(py::handle stage_obj) {
  std::vector<py::object> out;
  for (py::handle t : stage_obj.attr("tasks")) {
    out.push_back(py::reinterpret_borrow<py::object>(t));
  }
  return out;
}

py::tuple stage_set_to_py(StageSet&& set) {
  auto owned = std::make_shared<const StageSet>(std::move(set));
  py::list stages;
  for (const auto& s : owned->stages) stages.append(model_of(owned, s));
  py::object execution =
      owned->execution ? model_of(owned, *owned->execution) : py::none();
  return py::make_tuple(execution, stages);
}

py::dict commit_range_to_py(const CommitRange& r) {
  py::dict d;
  d["first_lsn"] = r.first_lsn;
  d["last_lsn"] = r.last_lsn;
  return d;
}

// ---- transactions ----

struct PyTransaction {
  StorePtr store;
  std::optional<Transaction> txn;
  // The stages handed to the C++ transaction (stable addresses: it writes
  // their versions back on rollback) and the Python objects they came from.
  std::deque<StageExecution> stages;
  std::deque<std::pair<py::object, std::vector<py::object>>> objects;
  // A call is running (its GIL released, or in Python code it called): a
  // Transaction's methods must not overlap, so another call is refused.
  // Read and written with the GIL held only.
  bool busy = false;

  // Marks the transaction busy for one call; made and destroyed with the GIL
  // held. Throws InvalidArgumentError while another call runs.
  class Use {
   public:
    explicit Use(PyTransaction& t) : t_(t) {
      if (t_.busy) {
        throw InvalidArgumentError(
            "transaction: in use by another call (its calls must not "
            "overlap)");
      }
      t_.busy = true;
    }
    ~Use() { t_.busy = false; }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    PyTransaction& t_;
  };

  Transaction& get() {
    if (!txn) throw InvalidArgumentError("transaction already ended");
    return *txn;
  }
  void restore_versions() {
    // Latest first, so a stage stored twice ends at its first version.
    for (std::size_t i = stages.size(); i-- > 0;) {
      write_back_versions(stages[i], objects[i].first, objects[i].second);
    }
  }
  void store_stage(py::handle stage, std::optional<std::string> expected_phase,
                   std::optional<std::string> execution_id,
                   py::object fallback) {
    Use use(*this);
    Transaction& t = get();
    stages.push_back(stage_from_py(stage, Path{nullptr, "stage"},
                                   options_from(std::move(fallback)),
                                   std::move(execution_id)));
    objects.emplace_back(py::reinterpret_borrow<py::object>(stage),
                         task_objects(stage));
    StageExecution& s = stages.back();
    try {
      Unlocked release;
      t.store_stage(s, std::move(expected_phase));
    } catch (...) {
      stages.pop_back();
      objects.pop_back();
      throw;
    }
    write_back_versions(s, objects.back().first, objects.back().second);
  }
  py::dict commit() {
    Use use(*this);
    Transaction& t = get();
    CommitRange range;
    try {
      Unlocked release;
      range = t.commit();
    } catch (...) {
      restore_versions();
      end();
      throw;
    }
    end();
    return commit_range_to_py(range);
  }
  void rollback() {
    Use use(*this);
    if (!txn) return;
    {
      Unlocked release;
      txn->rollback();
    }
    restore_versions();
    end();
  }
  void end() {
    py::gil_scoped_release release;
    txn.reset();
  }
};

// ---- commit listeners ----

// How many commit listeners this thread is running (remove_commit_listener
// from one would wait for it: refused).
thread_local int t_listener_depth = 0;

// ---- history ----

// A query field's value as T; InvalidArgumentError naming the field when it
// has another type or is out of T's range.
template <typename T>
T query_value(py::handle value, const std::string& field, const char* what) {
  try {
    return value.cast<T>();
  } catch (const py::cast_error&) {
    throw InvalidArgumentError(field + ": expected " + what + ", got " +
                               py::repr(value).cast<std::string>());
  }
}

EventQuery query_from(py::kwargs kwargs) {
  EventQuery q;
  for (auto [k, v] : kwargs) {
    std::string key = py::cast<std::string>(k);
    Path path{nullptr, key};
    if (v.is_none()) continue;
    if (key == "workflow_id") {
      q.workflow_id = str_from_py(v, path);
    } else if (key == "entity") {
      auto pair = query_value<std::pair<std::string, std::string>>(
          v, key, "a (kind, id) pair of str");
      auto kind = find_entity_kind(pair.first);
      if (!kind)
        throw InvalidArgumentError("entity: unknown kind '" + pair.first + "'");
      q.entity = EntityRef{*kind, pair.second};
    } else if (key == "types") {
      for (py::handle t : v) {
        std::string name = str_from_py(t, path);
        bool found = false;
        for (int i = 1; i < 256 && !found; ++i) {
          try {
            if (event_type_name(static_cast<EventType>(i)) == name) {
              q.types.push_back(static_cast<EventType>(i));
              found = true;
            }
          } catch (const Error&) {
          }
        }
        if (!found)
          throw InvalidArgumentError("types: unknown event type '" + name +
                                     "'");
      }
    } else if (key == "actor") {
      q.actor = str_from_py(v, path);
    } else if (key == "correlation_id") {
      q.correlation_id = str_from_py(v, path);
    } else if (key == "from_lsn") {
      q.from_lsn = query_value<std::uint64_t>(v, key, "an LSN (uint64)");
    } else if (key == "to_lsn") {
      q.to_lsn = query_value<std::uint64_t>(v, key, "an LSN (uint64)");
    } else if (key == "from_time_ms") {
      q.from_time_ms = query_value<std::int64_t>(v, key, "an int64");
    } else if (key == "to_time_ms") {
      q.to_time_ms = query_value<std::int64_t>(v, key, "an int64");
    } else if (key == "limit") {
      q.limit = query_value<std::size_t>(v, key, "a non-negative int");
    } else if (key == "offset") {
      q.offset = query_value<std::size_t>(v, key, "a non-negative int");
    } else if (key == "descending") {
      q.ascending = !query_value<bool>(v, key, "a bool");
    } else {
      throw InvalidArgumentError(key + ": unknown query field");
    }
  }
  return q;
}

py::list events_to_py(const std::vector<Event>& events) {
  py::list out;
  for (const auto& e : events) out.append(json_to_py(event_to_json(e)));
  return out;
}

struct PyHistory {
  StorePtr store;
  History history;
  explicit PyHistory(StorePtr s) : store(std::move(s)), history(*store->db) {}
};

}  // namespace
}  // namespace wfstore::python

PYBIND11_MODULE(_wfstore, m) {
  using namespace wfstore;          // NOLINT(google-build-using-namespace)
  using namespace wfstore::python;  // NOLINT(google-build-using-namespace)
  using std::chrono::milliseconds;
  m.doc() = "wfstore's event-sourced workflow store (see wfstore/_wfstore.pyi)";
  register_exceptions(m);
  define_model(m);

  py::class_<Store, StorePtr> db(m, "Database");
  db.def(py::init([](const std::filesystem::path& path, const Utf8& durability,
                     std::int64_t buffered_sync_interval_ms,
                     std::int64_t lease_duration_ms, int max_attempts,
                     const Utf8& lease_durability, unsigned file_mode,
                     std::optional<std::uint64_t> map_size, bool read_only) {
           DatabaseOptions o;
           o.durability = durability_from(durability, "durability");
           o.buffered_sync_interval = milliseconds(buffered_sync_interval_ms);
           o.queue.lease_duration = milliseconds(lease_duration_ms);
           o.queue.max_attempts = max_attempts;
           o.queue.lease_durability =
               durability_from(lease_durability, "lease_durability");
           o.file_mode = file_mode;
           if (map_size) o.map_size = *map_size;
           auto store = std::make_shared<Store>();
           Unlocked release;
           store->db = read_only ? Database::open_read_only(path, o)
                                 : Database::open(path, o);
           return store;
         }),
         py::arg("path"), py::kw_only(), py::arg("durability") = "sync",
         py::arg("buffered_sync_interval_ms") = 5,
         py::arg("lease_duration_ms") = 60000, py::arg("max_attempts") = 10,
         py::arg("lease_durability") = "buffered", py::arg("file_mode") = 0600,
         py::arg("map_size") = py::none(), py::arg("read_only") = false)
      .def("close",
           [](Store& s) {
             Unlocked release;
             s.db->close();
           })
      .def("stats",
           [](Store& s) {
             DatabaseStats st;
             {
               Unlocked release;
               st = s.db->stats();
             }
             py::dict d;
             d["commits"] = st.commits;
             d["groups"] = st.groups;
             d["fdatasyncs"] = st.fdatasyncs;
             d["bytes_appended"] = st.bytes_appended;
             d["applied_lsn"] = st.applied_lsn;
             d["durable_lsn"] = st.durable_lsn;
             d["queued_commits"] = st.queued_commits;
             return d;
           })
      // -- workflows --
      .def(
          "store",
          [](Store& s, py::handle workflow, py::object fallback) {
            Workflow w = workflow_from_py(workflow, options_from(fallback));
            Unlocked release;
            s.ws().store(w);
          },
          py::arg("workflow"), py::kw_only(), py::arg("default") = py::none())
      .def("retrieve",
           [](Store& s, const Utf8& id) {
             std::optional<Workflow> w;
             {
               Unlocked release;
               w = s.ws().retrieve(id);
             }
             return model_of(std::move(*w));
           })
      // Benchmark hook (python/bench): seconds the C++ store takes to run
      // `operation` ("retrieve", "exists" or "is_message_processed") once
      // for each of `ids`, in one loop without the GIL, so the binding's own
      // cost per call is the Python loop's time less this, in the same run.
      .def("_cpp_seconds",
           [](Store& s, const Utf8& operation, const std::vector<Utf8>& ids) {
             using Op = void (*)(WorkflowStore&, const std::string&);
             Op op = nullptr;
             if (operation == "retrieve") {
               op = [](WorkflowStore& ws, const std::string& id) {
                 (void)ws.retrieve(id);
               };
             } else if (operation == "exists") {
               op = [](WorkflowStore& ws, const std::string& id) {
                 (void)ws.exists(id);
               };
             } else if (operation == "is_message_processed") {
               op = [](WorkflowStore& ws, const std::string& id) {
                 (void)ws.is_message_processed(id);
               };
             } else {
               throw InvalidArgumentError("_cpp_seconds: unknown operation " +
                                          operation);
             }
             Unlocked release;
             const auto start = std::chrono::steady_clock::now();
             for (const std::string& id : ids) op(s.ws(), id);
             return std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                 .count();
           })
      .def("retrieve_execution_summary",
           [](Store& s, const Utf8& id) {
             std::optional<Workflow> w;
             {
               Unlocked release;
               w = s.ws().retrieve_execution_summary(id);
             }
             return model_of(std::move(*w));
           })
      .def("update_status",
           [](Store& s, py::handle workflow) {
             Workflow w = workflow_status_from_py(workflow, true);
             Unlocked release;
             s.ws().update_status(w);
           })
      .def("delete_workflow",
           [](Store& s, const Utf8& id) {
             Unlocked release;
             s.ws().delete_workflow(id);
           })
      // -- stages --
      .def(
          "store_stage",
          [](Store& s, py::handle stage, std::optional<Utf8> phase,
             std::optional<Utf8> execution_id, py::object fallback) {
            StageExecution st =
                stage_from_py(stage, Path{nullptr, "stage"},
                              options_from(fallback), std::move(execution_id));
            std::vector<py::object> tasks = task_objects(stage);
            {
              Unlocked release;
              s.ws().store_stage(st, std::move(phase));
            }
            write_back_versions(st, stage, tasks);
          },
          py::arg("stage"), py::arg("expected_phase") = py::none(),
          py::kw_only(), py::arg("execution_id") = py::none(),
          py::arg("default") = py::none())
      .def("remove_stage",
           [](Store& s, const Utf8& workflow_id, const Utf8& stage_id) {
             Unlocked release;
             s.ws().remove_stage(workflow_id, stage_id);
           })
      .def("retrieve_stage",
           [](Store& s, const Utf8& id) {
             std::optional<StageInExecution> r;
             {
               Unlocked release;
               r = s.ws().retrieve_stage(id);
             }
             return py::make_tuple(model_of(std::move(r->execution)), r->index);
           })
      .def("get_upstream_stages",
           [](Store& s, const Utf8& wid, const Utf8& ref) {
             StageSet set;
             {
               Unlocked release;
               set = s.ws().get_upstream_stages(wid, ref);
             }
             return stage_set_to_py(std::move(set));
           })
      .def("get_downstream_stages",
           [](Store& s, const Utf8& wid, const Utf8& ref) {
             StageSet set;
             {
               Unlocked release;
               set = s.ws().get_downstream_stages(wid, ref);
             }
             return stage_set_to_py(std::move(set));
           })
      .def("get_synthetic_stages",
           [](Store& s, const Utf8& wid, const Utf8& parent) {
             StageSet set;
             {
               Unlocked release;
               set = s.ws().get_synthetic_stages(wid, parent);
             }
             return stage_set_to_py(std::move(set));
           })
      .def("get_merged_ancestor_outputs",
           [](Store& s, const Utf8& wid, const Utf8& ref) {
             nlohmann::json out;
             {
               Unlocked release;
               out = s.ws().get_merged_ancestor_outputs(wid, ref);
             }
             return json_to_py(out);
           })
      // -- queries (ids in result order; load each with retrieve) --
      .def(
          "query_by_pipeline_config_id",
          [](Store& s, const Utf8& id, py::handle criteria) {
            auto c = criteria_from_py(criteria);
            Unlocked release;
            return s.ws().retrieve_by_pipeline_config_id(id, c).ids();
          },
          py::arg("pipeline_config_id"), py::arg("criteria") = py::none())
      .def(
          "query_by_application",
          [](Store& s, const Utf8& app, py::handle criteria) {
            auto c = criteria_from_py(criteria);
            Unlocked release;
            return s.ws().retrieve_by_application(app, c).ids();
          },
          py::arg("application"), py::arg("criteria") = py::none())
      .def(
          "query_pending_workflows",
          [](Store& s, py::handle criteria) {
            auto c = criteria_from_py(criteria).value_or(WorkflowCriteria{});
            if (criteria.is_none()) c.page_size = 0;
            Unlocked release;
            return s.ws().get_all_pending_workflows(c).ids();
          },
          py::arg("criteria") = py::none())
      .def("count_by_application",
           [](Store& s, const Utf8& app) {
             Unlocked release;
             return s.ws().count_by_application(app);
           })
      .def("exists",
           [](Store& s, const Utf8& id) {
             Unlocked release;
             return s.ws().exists(id);
           })
      // -- control --
      .def("pause",
           [](Store& s, const Utf8& id, const Utf8& by) {
             Unlocked release;
             s.ws().pause(id, by);
           })
      .def("resume",
           [](Store& s, const Utf8& id) {
             Unlocked release;
             s.ws().resume(id);
           })
      .def("cancel",
           [](Store& s, const Utf8& id, const Utf8& by, const Utf8& reason) {
             Unlocked release;
             s.ws().cancel(id, by, reason);
           })
      // -- dedup and claims --
      .def("is_message_processed",
           [](Store& s, const Utf8& id) {
             Unlocked release;
             return s.ws().is_message_processed(id);
           })
      .def(
          "mark_message_processed",
          [](Store& s, const Utf8& id, std::optional<Utf8> handler_type,
             std::optional<Utf8> execution_id) {
            Unlocked release;
            s.ws().mark_message_processed(id, std::move(handler_type),
                                          std::move(execution_id));
          },
          py::arg("message_id"), py::arg("handler_type") = py::none(),
          py::arg("execution_id") = py::none())
      .def("cleanup_old_processed_messages",
           [](Store& s, std::int64_t max_age_ms) {
             Unlocked release;
             return s.ws().cleanup_old_processed_messages(
                 milliseconds(max_age_ms));
           })
      .def(
          "get_processed_message_ids",
          [](Store& s, std::optional<std::size_t> limit) {
            Unlocked release;
            return s.ws().get_processed_message_ids(limit);
          },
          py::arg("limit") = py::none())
      .def("cleanup_completed_stage_claims",
           [](Store& s) {
             Unlocked release;
             return s.ws().cleanup_completed_stage_claims();
           })
      .def("is_healthy",
           [](Store& s) {
             Unlocked release;
             return s.ws().is_healthy();
           })
      .def("transaction",
           [](const StorePtr& s) {
             auto t = std::make_unique<PyTransaction>();
             t->store = s;
             {
               Unlocked release;
               t->txn.emplace(s->ws().transaction(nullptr));
             }
             return t;
           })
      .def(
          "attach_queue",
          [](Store& s) {
            Unlocked release;
            s.get_queue();
          },
          "Attaches the store's one queue (the queue_* methods use it).")
      .def("add_commit_listener",
           [](Store& s, py::function fn) {
             // Released with the GIL held, whichever thread drops it last.
             std::shared_ptr<py::function> shared(
                 new py::function(std::move(fn)), [](py::function* f) {
                   py::gil_scoped_acquire acquire;
                   delete f;
                 });
             auto listener = [shared](const CommitNotice& n) {
               py::gil_scoped_acquire acquire;
               ++t_listener_depth;
               try {
                 (*shared)(n.first_lsn, n.last_lsn, n.queue_changed);
               } catch (py::error_already_set& e) {
                 e.discard_as_unraisable("wfstore commit listener");
               }
               --t_listener_depth;
             };
             Unlocked release;
             return s.db->add_commit_listener(listener);
           })
      .def("remove_commit_listener",
           [](Store& s, std::uint64_t id) {
             if (t_listener_depth > 0) {
               throw IOError(
                   "remove_commit_listener: called from a commit listener, "
                   "it would wait for the listener itself");
             }
             Unlocked release;
             s.db->remove_commit_listener(id);
           })
      .def("history",
           [](const StorePtr& s) { return std::make_unique<PyHistory>(s); });

  py::class_<PyTransaction>(m, "Transaction")
      .def("store_stage", &PyTransaction::store_stage, py::arg("stage"),
           py::arg("expected_phase") = py::none(), py::kw_only(),
           py::arg("execution_id") = py::none(),
           py::arg("default") = py::none())
      .def("update_workflow_status",
           [](PyTransaction& t, py::handle workflow) {
             PyTransaction::Use use(t);
             Transaction& txn = t.get();
             Workflow w = workflow_status_from_py(workflow, false);
             Unlocked release;
             txn.update_workflow_status(w);
           })
      .def(
          "push_message",
          [](PyTransaction& t, const Utf8& type, py::handle fields,
             std::int64_t delay_ms, std::optional<int> max_attempts) {
            PyTransaction::Use use(t);
            Transaction& txn = t.get();
            Message msg = message_from_py(type, fields, max_attempts);
            Unlocked release;
            txn.push_message(msg, milliseconds(delay_ms));
          },
          py::arg("type"), py::arg("fields"), py::arg("delay_ms") = 0,
          py::arg("max_attempts") = py::none())
      .def(
          "mark_message_processed",
          [](PyTransaction& t, const Utf8& id, std::optional<Utf8> handler_type,
             std::optional<Utf8> execution_id) {
            PyTransaction::Use use(t);
            Transaction& txn = t.get();
            Unlocked release;
            txn.mark_message_processed(id, std::move(handler_type),
                                       std::move(execution_id));
          },
          py::arg("message_id"), py::arg("handler_type") = py::none(),
          py::arg("execution_id") = py::none())
      .def(
          "acquire_claim",
          [](PyTransaction& t, const Utf8& execution_id, const Utf8& key,
             const Utf8& stage_id, bool steal) {
            PyTransaction::Use use(t);
            Transaction& txn = t.get();
            Unlocked release;
            return txn.acquire_claim(execution_id, key, stage_id, steal);
          },
          py::arg("execution_id"), py::arg("claim_key"), py::arg("stage_id"),
          py::arg("steal_if_owner_terminal") = false)
      .def_property_readonly("is_atomic", [](PyTransaction&) { return true; })
      .def("commit", &PyTransaction::commit)
      .def("rollback", &PyTransaction::rollback)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__",
           [](PyTransaction& t, py::object type, py::object, py::object) {
             if (type.is_none()) {
               t.commit();
             } else {
               t.rollback();
             }
             return false;
           });

  // Queue operations live on Database (the store's one queue); the Python
  // package wraps them as wfstore.Queue.
  db.def(
        "queue_push",
        [](Store& s, const Utf8& type, py::handle fields, std::int64_t delay_ms,
           std::optional<int> max_attempts) {
          Message msg = message_from_py(type, fields, max_attempts);
          Unlocked release;
          return s.get_queue().push(msg, milliseconds(delay_ms));
        },
        py::arg("type"), py::arg("fields"), py::arg("delay_ms") = 0,
        py::arg("max_attempts") = py::none())
      .def(
          "queue_poll_one",
          [](Store& s, std::optional<std::int64_t> timeout_ms) -> py::object {
            std::optional<Delivery> d;
            {
              Unlocked release;
              Queue& queue = s.get_queue();
              d = timeout_ms ? queue.poll_one(milliseconds(*timeout_ms))
                             : queue.poll_one();
            }
            if (!d) return py::none();
            return py::make_tuple(d->id, d->attempts,
                                  std::string(message_type_name(d->message)),
                                  message_fields_to_py(d->message));
          },
          py::arg("timeout_ms") = py::none())
      .def("queue_ack",
           [](Store& s, std::uint64_t id) {
             Unlocked release;
             s.get_queue().ack(id);
           })
      .def("queue_reschedule",
           [](Store& s, std::uint64_t id, std::int64_t delay_ms) {
             Unlocked release;
             s.get_queue().reschedule(id, milliseconds(delay_ms));
           })
      .def(
          "queue_extend_lock",
          [](Store& s, std::uint64_t id, std::optional<std::int64_t> ms) {
            Unlocked release;
            std::optional<milliseconds> d;
            if (ms) d = milliseconds(*ms);
            return s.get_queue().extend_lock(id, d);
          },
          py::arg("delivery_id"), py::arg("duration_ms") = py::none())
      .def("queue_size",
           [](Store& s) {
             Unlocked release;
             return s.get_queue().size();
           })
      .def("queue_clear",
           [](Store& s) {
             Unlocked release;
             s.get_queue().clear();
           })
      .def("queue_has_pending_message_for_task",
           [](Store& s, const Utf8& task_id) {
             Unlocked release;
             return s.get_queue().has_pending_message_for_task(task_id);
           })
      .def(
          "queue_move_to_dlq",
          [](Store& s, std::uint64_t id, const Utf8& error) {
            Unlocked release;
            s.get_queue().move_to_dlq(id, error);
          },
          py::arg("delivery_id"), py::arg("error") = "Max attempts exceeded")
      .def("queue_check_and_move_expired",
           [](Store& s) {
             Unlocked release;
             return s.get_queue().check_and_move_expired();
           })
      .def(
          "queue_list_dlq",
          [](Store& s, std::size_t limit, std::optional<Utf8> message_type) {
            std::vector<DeadLetter> dls;
            {
              Unlocked release;
              std::optional<std::string_view> t;
              if (message_type) t = *message_type;
              dls = s.get_queue().list_dlq(limit, t);
            }
            py::list out;
            for (const auto& dl : dls) {
              py::dict d;
              d["id"] = dl.id;
              d["message_type"] = dl.message_type;
              d["fields"] = message_fields_to_py(dl.message);
              d["attempts"] = dl.attempts;
              d["error"] = dl.error;
              d["moved_at"] = dl.moved_at;
              out.append(d);
            }
            return out;
          },
          py::arg("limit") = 100, py::arg("message_type") = py::none())
      .def("queue_dlq_size",
           [](Store& s) {
             Unlocked release;
             return s.get_queue().dlq_size();
           })
      .def("queue_replay_dlq",
           [](Store& s, std::uint64_t id) {
             Unlocked release;
             return s.get_queue().replay_dlq(id);
           })
      .def("queue_clear_dlq", [](Store& s) {
        Unlocked release;
        return s.get_queue().clear_dlq();
      });

  audit_var = PyContextVar_New("wfstore.audit_scope", nullptr);
  if (audit_var == nullptr) throw py::error_already_set();
  py::class_<PyAuditScope>(m, "AuditScope")
      .def(py::init([](const Utf8& actor, const Utf8& correlation_id,
                       const Utf8& causation_id, const Utf8& source) {
             auto s = std::make_unique<PyAuditScope>();
             s->fields =
                 AuditFields{actor, correlation_id, causation_id, source};
             AuditScope validate(s->fields);  // throws on a bad field
             return s;
           }),
           py::kw_only(), py::arg("actor") = "", py::arg("correlation_id") = "",
           py::arg("causation_id") = "", py::arg("source") = "")
      .def("__enter__",
           [](py::object self) {
             enter_scope(self);
             return self;
           })
      .def("__exit__", [](py::object self, py::object, py::object, py::object) {
        exit_scope(self);
        return false;
      });

  py::class_<PyHistory>(m, "History")
      .def("current_lsn",
           [](PyHistory& h) {
             Unlocked release;
             return h.history.current_lsn();
           })
      .def("events",
           [](PyHistory& h, py::kwargs kwargs) {
             EventQuery q = query_from(kwargs);
             std::vector<Event> events;
             {
               Unlocked release;
               events = h.history.events(q);
             }
             return events_to_py(events);
           })
      .def("count",
           [](PyHistory& h, py::kwargs kwargs) {
             EventQuery q = query_from(kwargs);
             Unlocked release;
             return h.history.count(q);
           })
      .def("event_at",
           [](PyHistory& h, std::uint64_t lsn) -> py::object {
             std::optional<Event> e;
             {
               Unlocked release;
               e = h.history.event_at(lsn);
             }
             return e ? json_to_py(event_to_json(*e)) : py::none();
           })
      .def("commit_end",
           [](PyHistory& h, std::uint64_t lsn) {
             Unlocked release;
             return h.history.commit_end(lsn);
           })
      .def("lsn_at_time",
           [](PyHistory& h, std::int64_t t) {
             Unlocked release;
             return h.history.lsn_at_time(t);
           })
      .def("workflow_as_of",
           [](PyHistory& h, const Utf8& id, std::uint64_t lsn) -> py::object {
             std::optional<Workflow> w;
             {
               Unlocked release;
               w = h.history.workflow_as_of(id, lsn);
             }
             return w ? model_of(std::move(*w)) : py::none();
           })
      .def("diff",
           [](PyHistory& h, const Utf8& id, std::uint64_t from,
              std::uint64_t to) {
             WorkflowDiff d;
             {
               Unlocked release;
               d = h.history.diff(id, from, to);
             }
             py::list changes;
             for (const auto& c : d.changes) {
               py::dict cd;
               cd["entity_kind"] = std::string(entity_kind_name(c.entity.kind));
               cd["entity_id"] = c.entity.id;
               cd["field"] = c.field;
               cd["before"] = json_to_py(c.before);
               cd["after"] = json_to_py(c.after);
               cd["lsn"] = c.lsn;
               cd["timestamp_ms"] = c.timestamp_ms;
               cd["type"] = std::string(event_type_name(c.type));
               cd["actor"] = c.audit.actor;
               changes.append(cd);
             }
             py::dict out;
             out["workflow_id"] = d.workflow_id;
             out["from_lsn"] = d.from_lsn;
             out["to_lsn"] = d.to_lsn;
             out["changes"] = changes;
             return out;
           })
      .def("entity_history",
           [](PyHistory& h, const Utf8& kind, const Utf8& id) {
             auto k = find_entity_kind(kind);
             if (!k)
               throw InvalidArgumentError("kind: unknown entity kind '" + kind +
                                          "'");
             std::vector<Event> events;
             {
               Unlocked release;
               events = h.history.entity_history(EntityRef{*k, id});
             }
             return events_to_py(events);
           })
      .def("fork",
           [](PyHistory& h, std::uint64_t lsn,
              const std::filesystem::path& out) {
             ForkReport r;
             {
               Unlocked release;
               r = h.history.fork(lsn, out);
             }
             py::dict d;
             d["store_id"] = r.store_id;
             d["last_lsn"] = r.last_lsn;
             d["events"] = r.events;
             d["log_bytes"] = r.log_bytes;
             return d;
           })
      .def("export_workflow",
           [](PyHistory& h, const Utf8& id, const std::filesystem::path& file) {
             BundleInfo b;
             {
               Unlocked release;
               b = h.history.export_workflow(id, file);
             }
             py::dict d;
             d["workflow_id"] = b.workflow_id;
             d["events"] = b.events;
             d["first_lsn"] = b.first_lsn;
             d["last_lsn"] = b.last_lsn;
             d["sha256"] = b.sha256;
             return d;
           });

  m.def(
      "for_each_event",
      [](const std::filesystem::path& dir, std::uint64_t after_lsn,
         py::function visit) {
        Unlocked release;
        return for_each_event(dir, after_lsn, [&](const Event& e) {
          py::gil_scoped_acquire acquire;
          py::object r = visit(json_to_py(event_to_json(e)));
          return r.is_none() || r.cast<bool>();
        });
      },
      py::arg("dir"), py::arg("after_lsn"), py::arg("visit"),
      "Calls visit(event_dict) for each event after after_lsn, in LSN order, "
      "until it returns False; returns the last LSN visited.");
}
