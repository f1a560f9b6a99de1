// Placeholders of the history API while it is being built; each definition
// moves to its own file (history.cc names them) and leaves this file.

#include <stdexcept>

#include "wfstore/database.h"
#include "wfstore/history.h"

namespace wfstore {
namespace {
[[noreturn]] void pending(const char* what) {
  throw std::logic_error(std::string(what) + " is not built yet");
}
}  // namespace

// ---- fork.cc and bundle.cc ----
ForkReport History::fork(std::uint64_t, const std::filesystem::path&) const {
  pending("fork");
}
std::string store_id(Database&) { pending("store_id"); }
std::optional<ForkOrigin> fork_origin(Database&) { pending("fork_origin"); }
BundleInfo History::export_workflow(std::string_view,
                                    const std::filesystem::path&) const {
  pending("export_workflow");
}
BundleInfo read_bundle_info(const std::filesystem::path&) {
  pending("read_bundle_info");
}
BundleInfo import_bundle(Database&, const std::filesystem::path&) {
  pending("import_bundle");
}

// ---- summary.cc ----
StoreSummary summarize_store(Database&) { pending("summarize_store"); }

}  // namespace wfstore
