// The files of viewer/web/, embedded in the binary at build time
// (viewer/embed_files.cmake writes their table).

#pragma once

#include <string_view>
#include <vector>

namespace wfstore::viewer {

struct EmbeddedFile {
  std::string_view path;     // "/index.html": '/' and the path under web/
  std::string_view content;  // the file's bytes
};

// Every file, sorted by path. Thread-safe; the table lives as long as the
// process.
const std::vector<EmbeddedFile>& embedded_files();

}  // namespace wfstore::viewer
