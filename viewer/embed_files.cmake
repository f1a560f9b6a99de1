# Writes OUTPUT, a C++ source embedding every file under WEB_DIR (the page of
# `wfstore serve`): one byte array per file and the table
# wfstore::viewer::embedded_files() of {"/relative/path", bytes}.
# Run as: cmake -DWEB_DIR=... -DOUTPUT=... -P embed_files.cmake
file(GLOB_RECURSE files RELATIVE ${WEB_DIR} ${WEB_DIR}/*)
list(SORT files)
set(arrays "")
set(table "")
set(index 0)
foreach(name ${files})
  file(READ ${WEB_DIR}/${name} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  # One line per 32 bytes keeps the file readable by compilers and people.
  string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){32})" "\\1\n" bytes "${bytes}")
  string(APPEND arrays "// ${name}\nconst char kFile${index}[] = {\n${bytes}'\\0'};\n")
  string(APPEND table "      {\"/${name}\", std::string_view(kFile${index}, ${size})},\n")
  math(EXPR index "${index} + 1")
endforeach()
file(WRITE ${OUTPUT}.tmp
"// Generated from viewer/web/ by viewer/embed_files.cmake: do not edit.

#include \"viewer/embedded_files.h\"

namespace wfstore::viewer {
namespace {

${arrays}
}  // namespace

const std::vector<EmbeddedFile>& embedded_files() {
  static const std::vector<EmbeddedFile> files = {
${table}  };
  return files;
}

}  // namespace wfstore::viewer
")
# Rewrite only on change, so an unchanged page rebuilds nothing.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
file(REMOVE ${OUTPUT}.tmp)
