// The timeline picture: parsed as XML by a strict checker, one bar per stage
// coloured by its final status, tasks, retries, dead letters and pauses
// drawn, text escaped, no external resource.

#include "wfstore/timeline_svg.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/projections.h"

#include "tests/testutil/xml_check.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testutil::parse_xml;
using testutil::XmlElement;

constexpr std::int64_t kT0 = 1'800'000'000'000;

StageSpan span(std::string id, WorkflowStatus status,
               std::optional<std::int64_t> start,
               std::optional<std::int64_t> end) {
  StageSpan s;
  s.id = id;
  s.ref_id = id;
  s.name = id;
  s.type = "shell";
  s.status = status;
  s.start_ms = start;
  s.end_ms = end;
  std::int64_t duration = 0;
  // Spans at the edges of the int64 range have no representable duration.
  if (start && end && !__builtin_sub_overflow(*end, *start, &duration)) {
    s.duration_ms = duration;
  }
  return s;
}

WorkflowTimeline sample() {
  WorkflowTimeline tl;
  tl.workflow_id = "wf-1";
  tl.name = "deploy <api> & \"friends\" 'quoted'";
  tl.status = WorkflowStatus::kTerminal;
  tl.current_status = WorkflowStatus::kTerminal;
  tl.start_ms = kT0;
  tl.end_ms = kT0 + 9000;
  tl.total_duration_ms = 9000;
  tl.first_event_ms = kT0 - 500;
  tl.last_event_ms = kT0 + 9500;
  tl.paused.push_back({kT0 + 2000, kT0 + 3000});
  tl.cancel_requests.push_back({kT0 + 8000, "by bob: <freeze>"});
  StageSpan build = span("build", WorkflowStatus::kSucceeded, kT0, kT0 + 1500);
  TaskSpan task;
  task.id = "build.t0";
  task.name = "compile";
  task.status = WorkflowStatus::kSucceeded;
  task.start_ms = kT0;
  task.end_ms = kT0 + 1400;
  task.retries.push_back({kT0 + 700, "RunTask attempt 2 (delivery 7)"});
  build.tasks.push_back(task);
  tl.stages.push_back(build);
  StageSpan test =
      span("test", WorkflowStatus::kTerminal, kT0 + 1500, kT0 + 9000);
  test.paused.push_back({kT0 + 4000, kT0 + 5000});
  test.dead_letters.push_back({kT0 + 8500, "CompleteStage dead-lettered: x"});
  tl.stages.push_back(test);
  tl.stages.push_back(span("deploy & <ship>", WorkflowStatus::kNotStarted,
                           std::nullopt, std::nullopt));
  StageSpan running =
      span("canary", WorkflowStatus::kRunning, kT0 + 8000, std::nullopt);
  running.parent_stage_id = "deploy & <ship>";
  tl.stages.push_back(running);
  return tl;
}

TEST(TimelineSvgTest, OneBarPerStageColouredByItsFinalStatus) {
  const WorkflowTimeline tl = sample();
  const std::string svg = render_timeline_svg(tl);
  const XmlElement root = parse_xml(svg);
  EXPECT_EQ(root.name, "svg");
  EXPECT_EQ(root.attributes.at("xmlns"), "http://www.w3.org/2000/svg");
  const std::vector<const XmlElement*> bars =
      root.find_all("rect", "data-stage");
  ASSERT_EQ(bars.size(), tl.stages.size());
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const StageSpan& s = tl.stages[i];
    EXPECT_EQ(bars[i]->attributes.at("data-stage"), s.id);
    EXPECT_EQ(bars[i]->attributes.at("data-status"), status_name(s.status));
    EXPECT_EQ(bars[i]->attributes.at("fill"), timeline_status_color(s.status));
  }
  // Bars follow time: build starts left of test and ends where test starts.
  const auto x = [&](std::size_t i) {
    return std::stod(bars[i]->attributes.at("x"));
  };
  const auto w = [&](std::size_t i) {
    return std::stod(bars[i]->attributes.at("width"));
  };
  EXPECT_LT(x(0), x(1));
  EXPECT_NEAR(x(0) + w(0), x(1), 0.2);
  EXPECT_GT(x(3), x(1));
  // The labels say status and duration beside each bar.
  const std::string text = root.all_text();
  EXPECT_THAT(text, HasSubstr("SUCCEEDED \u00b7 1.5 s \u00b7 1 retry"));
  EXPECT_THAT(text, HasSubstr("TERMINAL \u00b7 7.5 s \u00b7 1 dead letter"));
  EXPECT_THAT(text, HasSubstr("NOT_STARTED (never ran)"));
  EXPECT_THAT(text, HasSubstr("deploy <api> & \"friends\" 'quoted'"));
  EXPECT_THAT(text, HasSubstr("deploy & <ship>"));
}

TEST(TimelineSvgTest, TasksRetriesDeadLettersAndPausesAreDrawn) {
  const XmlElement root = parse_xml(render_timeline_svg(sample()));
  const auto tasks = root.find_all("rect", "data-task");
  ASSERT_EQ(tasks.size(), 1U);
  EXPECT_EQ(tasks[0]->attributes.at("data-task"), "build.t0");
  const auto retries = root.find_all("g", "data-retry");
  ASSERT_EQ(retries.size(), 1U);
  EXPECT_EQ(retries[0]->attributes.at("data-retry"), "build.t0");
  EXPECT_EQ(root.find_all("g", "data-dead-letter").size(), 1U);
  EXPECT_EQ(root.find_all("g", "data-cancel-request").size(), 1U);
  std::set<std::string> paused;
  for (const XmlElement* r : root.find_all("rect", "data-paused")) {
    paused.insert(r->attributes.at("data-paused"));
  }
  EXPECT_EQ(paused, (std::set<std::string>{"workflow", "test"}));
  EXPECT_EQ(root.find_all("g", "data-axis").size(), 1U);
  EXPECT_EQ(root.find_all("rect", "data-workflow").size(), 1U);
}

TEST(TimelineSvgTest, NeedsNoExternalResource) {
  const std::string svg = render_timeline_svg(sample());
  EXPECT_THAT(svg, Not(HasSubstr("href")));
  EXPECT_THAT(svg, Not(HasSubstr("http://www.w3.org/1999")));
  EXPECT_THAT(svg, Not(HasSubstr("url(http")));
  EXPECT_THAT(svg, Not(HasSubstr("@import")));
  // The one URL is the SVG namespace.
  std::size_t urls = 0;
  for (std::size_t at = svg.find("http"); at != std::string::npos;
       at = svg.find("http", at + 1)) {
    ++urls;
  }
  EXPECT_EQ(urls, 1U);
}

TEST(TimelineSvgTest, AnEmptyTimelineIsStillADocument) {
  WorkflowTimeline tl;
  tl.workflow_id = "\x01odd\x1f";
  const XmlElement root = parse_xml(render_timeline_svg(tl));
  EXPECT_TRUE(root.find_all("rect", "data-stage").empty());
  EXPECT_EQ(root.attributes.at("data-workflow-id"), "?odd?");
}

// Times are whatever the store was given: the picture of one spanning the
// whole int64 range is still a finite document, one bar per stage, with no
// NaN or infinite coordinate.
TEST(TimelineSvgTest, TimesAtTheEdgesOfTheInt64RangeStillDrawADocument) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::pair<std::int64_t, std::int64_t>> ranges = {
      {kT0, kMax}, {kMin, kT0}, {kMin, kMax}, {kMax - 1, kMax}, {kMin, kMin}};
  for (const auto& [from, to] : ranges) {
    WorkflowTimeline tl;
    tl.workflow_id = "wf-edge";
    tl.first_event_ms = kT0;
    tl.last_event_ms = kT0;
    tl.start_ms = from;
    tl.end_ms = to;
    tl.total_duration_ms = 0;
    tl.paused.push_back({from, to});
    tl.cancel_requests.push_back({to, "by bob"});
    StageSpan a = span("a", WorkflowStatus::kSucceeded, from, to);
    a.duration_ms = kMax;
    a.retries.push_back({to, "retry"});
    a.paused.push_back({from, std::nullopt});
    TaskSpan t;
    t.id = "a.t";
    t.start_ms = from;
    t.end_ms = to;
    t.dead_letters.push_back({from, "dead"});
    a.tasks.push_back(t);
    tl.stages.push_back(a);
    tl.stages.push_back(
        span("b", WorkflowStatus::kRunning, from, std::nullopt));
    const std::string svg = render_timeline_svg(tl);
    SCOPED_TRACE(svg.substr(0, 2000));
    const XmlElement root = parse_xml(svg);
    EXPECT_EQ(root.find_all("rect", "data-stage").size(), 2U);
    EXPECT_THAT(svg, Not(HasSubstr("nan")));
    EXPECT_THAT(svg, Not(HasSubstr("inf")));
    for (const XmlElement* r : root.find_all("rect")) {
      for (const char* attr : {"x", "y", "width", "height"}) {
        if (!r->attributes.contains(attr)) continue;
        const double v = std::stod(r->attributes.at(attr));
        EXPECT_TRUE(std::isfinite(v) && v >= 0 && v <= 1200)
            << attr << "=" << v;
      }
    }
    // At most ~8 ticks, each labelled "+...".
    const auto axis = root.find_all("g", "data-axis");
    ASSERT_EQ(axis.size(), 1U);
    EXPECT_LE(axis[0]->find_all("text").size(), 12U);
  }
}

// Names and texts are the caller's bytes: a byte sequence that is not UTF-8
// (or a character XML forbids) becomes U+FFFD, so the document stays XML.
TEST(TimelineSvgTest, TextThatIsNotUtf8IsReplaced) {
  WorkflowTimeline tl = sample();
  tl.workflow_id = "wf-\xff";
  tl.name = "cut \xe2\x82";
  tl.stages[0].id =
      "b\xc0\xaf"
      "d";                                                    // an overlong '/'
  tl.stages[0].name = std::string(30, 'a') + "\xed\xa0\x80";  // a surrogate
  tl.stages[1].name =
      "non\xef\xbf\xbf"
      "char \u00e9";
  tl.cancel_requests[0].text = "\x80 by bob";
  const std::string svg = render_timeline_svg(tl);
  const XmlElement root = parse_xml(svg);
  const auto bars = root.find_all("rect", "data-stage");
  ASSERT_EQ(bars.size(), tl.stages.size());
  EXPECT_EQ(bars[0]->attributes.at("data-stage"), "b\uFFFD\uFFFDd");
  EXPECT_EQ(root.attributes.at("data-workflow-id"), "wf-\uFFFD");
  EXPECT_THAT(root.all_text(), HasSubstr("non\uFFFD\uFFFD\uFFFDchar \u00e9"));
}

TEST(TimelineSvgTest, TheXmlCheckRejectsWhatIsNotWellFormed) {
  EXPECT_THROW(parse_xml("<svg><rect></svg>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg a=\"1\" a=\"2\"/>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg a=1/>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg>&nbsp;</svg>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg>a < b</svg>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg a=\"<\"/>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg/><svg/>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg>\xff</svg>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg>\xc3</svg>"), std::runtime_error);
  EXPECT_THROW(parse_xml("<svg>\xef\xbf\xbf</svg>"), std::runtime_error);
  EXPECT_NO_THROW(parse_xml("<svg a='x &amp; y'><!-- c --><g/>t</svg>"));
  EXPECT_NO_THROW(parse_xml("<svg>\u00e9\U0001F600</svg>"));
}

// A name cut to fit its row is cut between characters, never inside one.
TEST(TimelineSvgTest, ALongNameIsCutBetweenCharacters) {
  WorkflowTimeline tl;
  tl.workflow_id = "wf-utf8";
  tl.status = WorkflowStatus::kSucceeded;
  tl.current_status = WorkflowStatus::kSucceeded;
  tl.start_ms = 1000;
  tl.end_ms = 2000;
  for (std::size_t pad = 27; pad <= 32; ++pad) {
    // A name longer than the label width whose cut point falls inside a
    // multibyte character for some pad.
    StageSpan s = span("stage-" + std::to_string(pad),
                       WorkflowStatus::kSucceeded, 1000, 2000);
    s.name = std::string(pad, 'a') + "\u00e9\u20ac\U0001F600 and more text";
    tl.stages.push_back(s);
  }
  const std::string svg = render_timeline_svg(tl);
  EXPECT_NO_THROW(parse_xml(svg));  // which checks the UTF-8
  EXPECT_THAT(svg, Not(HasSubstr("\uFFFD")));
}

TEST(TimelineSvgTest, DurationsReadAsPeopleSayThem) {
  EXPECT_EQ(format_duration_ms(850), "850 ms");
  EXPECT_EQ(format_duration_ms(1250), "1.25 s");
  EXPECT_EQ(format_duration_ms(2000), "2 s");
  EXPECT_EQ(format_duration_ms(125'000), "2 min 05 s");
  EXPECT_EQ(format_duration_ms(11'220'000), "3 h 07 min");
  EXPECT_EQ(format_duration_ms(-1250), "-1.25 s");
  const std::string min =
      format_duration_ms(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(min.front(), '-');
  EXPECT_THAT(min, HasSubstr(" h "));
}

}  // namespace
}  // namespace wfstore
