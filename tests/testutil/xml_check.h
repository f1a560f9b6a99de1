// A small strict XML parser for tests of generated documents (the timeline
// SVG): well-formedness (valid UTF-8, one root, balanced tags, quoted and unique
// attributes, only the predefined and numeric entities, no '<' in attribute
// values), giving back the element tree.

#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace wfstore::testutil {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  // values unescaped
  std::vector<XmlElement> children;
  std::string text;  // the element's own character data, unescaped

  // Every element of the subtree (this one first) named `name` that has
  // attribute `attribute` (any element when `attribute` is empty).
  std::vector<const XmlElement*> find_all(
      std::string_view name, std::string_view attribute = {}) const;
  // The concatenated text of the subtree.
  std::string all_text() const;
};

// Parses `document`; throws std::runtime_error naming the offset and what is
// wrong when it is not well-formed.
XmlElement parse_xml(std::string_view document);

}  // namespace wfstore::testutil
