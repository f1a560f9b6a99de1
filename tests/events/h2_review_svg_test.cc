// Review tests of the timeline picture: text cut to fit stays valid UTF-8
// (an SVG is XML, which must be well-formed UTF-8), and durations at the
// edge of the int64 range are formatted without overflow.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/projections.h"
#include "wfstore/timeline_svg.h"

#include "tests/testutil/xml_check.h"

namespace wfstore {
namespace {

// True when `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= text.size()) return false;
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80)
        return false;
    }
    i += n + 1;
  }
  return true;
}

TEST(TimelineSvgReview, LongStageNameWithMultibyteCharacterStaysValidUtf8) {
  WorkflowTimeline tl;
  tl.workflow_id = "wf-utf8";
  tl.status = WorkflowStatus::kSucceeded;
  tl.current_status = WorkflowStatus::kSucceeded;
  tl.start_ms = 1000;
  tl.end_ms = 2000;
  for (std::size_t pad = 27; pad <= 32; ++pad) {
    StageSpan s;
    // A name longer than the label width whose cut point falls inside a
    // multibyte character for some pad.
    s.id = "stage-" + std::to_string(pad);
    s.name = std::string(pad, 'a') + "\u00e9\u20ac\U0001F600 and more text";
    s.status = WorkflowStatus::kSucceeded;
    s.start_ms = 1000;
    s.end_ms = 2000;
    tl.stages.push_back(s);
  }
  const std::string svg = render_timeline_svg(tl);
  EXPECT_TRUE(valid_utf8(svg));
  EXPECT_NO_THROW(testutil::parse_xml(svg));
}

TEST(TimelineSvgReview, DurationAtInt64MinIsFormatted) {
  const std::string text =
      format_duration_ms(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(text.front(), '-');
  EXPECT_THAT(text, ::testing::HasSubstr(" h "));
}

}  // namespace
}  // namespace wfstore
