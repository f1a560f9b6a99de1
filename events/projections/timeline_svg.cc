// render_timeline_svg: the timeline picture (docs/projections.md).

#include "wfstore/timeline_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/time_format.h"

#include "events/model/utf8.h"

namespace wfstore {
namespace {

// Layout, in SVG user units (px).
constexpr double kWidth = 1200;
constexpr double kNameX = 12;     // stage names
constexpr double kChartX0 = 250;  // the chart's time range
constexpr double kChartX1 = 800;
constexpr double kHeaderHeight = 64;
constexpr double kRowHeight = 36;
constexpr double kBarY = 6;  // a stage bar inside its row
constexpr double kBarHeight = 16;
constexpr double kTaskY = 25;  // task bars inside the row
constexpr double kTaskHeight = 5;
constexpr double kAxisHeight = 62;

// The length of the well-formed UTF-8 sequence at text[i] of a character
// XML 1.0 allows (not U+FFFE or U+FFFF), or 0.
std::size_t xml_char_length(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + len > text.size()) return 0;
  const std::string_view seq = text.substr(i, len);
  if (!utf8::is_valid(seq)) return 0;
  if (seq == "\xEF\xBF\xBE" || seq == "\xEF\xBF\xBF") return 0;
  return len;
}

// XML-escaped text; control characters XML 1.0 forbids become '?', a byte
// that is not part of a UTF-8 character XML allows (U+FFFE and U+FFFF are
// not) U+FFFD.
std::string esc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x80) {
          if (const std::size_t len = xml_char_length(text, i)) {
            out += text.substr(i, len);
            i += len - 1;
          } else {
            out += "\uFFFD";
          }
        } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t' &&
                   c != '\n' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

// `text` cut to at most `max_bytes` bytes (then "..." appended) at a UTF-8
// character boundary, so the cut never splits a multibyte character.
std::string shorten(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes + 3) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;  // a continuation byte: back to its character's first byte
  }
  return text.substr(0, cut) + "...";
}

// A magnitude of milliseconds as format_duration_ms() says it.
std::string magnitude_text(std::uint64_t ms) {
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms < 60'000) {
    std::string s = fmt::format("{:.2f}", static_cast<double>(ms) / 1000.0);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + " s";
  }
  if (ms < 3'600'000) {
    return fmt::format("{} min {:02} s", ms / 60'000, (ms / 1000) % 60);
  }
  return fmt::format("{} h {:02} min", ms / 3'600'000, (ms / 60'000) % 60);
}

// `to - from` as format_duration_ms() says it, for any two int64 times (the
// difference may not fit in an int64).
std::string gap_text(std::int64_t from, std::int64_t to) {
  const auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  if (to >= from) return magnitude_text(u(to) - u(from));
  return "-" + magnitude_text(u(from) - u(to));
}

// The time range the chart shows and the mapping to x. Offsets from the
// range's start are unsigned: a range across the whole int64 span fits.
class Scale {
 public:
  explicit Scale(const WorkflowTimeline& tl) {
    const auto see = [&](const std::optional<std::int64_t>& t) {
      if (!t) return;
      t0_ = std::min(t0_, *t);
      t1_ = std::max(t1_, *t);
      any_ = true;
    };
    const auto see_marks = [&](const std::vector<TimelineMark>& marks) {
      for (const TimelineMark& m : marks) see(m.at_ms);
    };
    if (tl.first_event_ms != 0 || tl.last_event_ms != 0) {
      see(tl.first_event_ms);
      see(tl.last_event_ms);
    }
    see(tl.start_ms);
    see(tl.end_ms);
    for (const TimeSpan& p : tl.paused) {
      see(p.from_ms);
      see(p.to_ms);
    }
    see_marks(tl.cancel_requests);
    for (const StageSpan& s : tl.stages) {
      see(s.start_ms);
      see(s.end_ms);
      for (const TimeSpan& p : s.paused) {
        see(p.from_ms);
        see(p.to_ms);
      }
      see_marks(s.retries);
      see_marks(s.dead_letters);
      for (const TaskSpan& t : s.tasks) {
        see(t.start_ms);
        see(t.end_ms);
        see_marks(t.retries);
        see_marks(t.dead_letters);
      }
    }
    if (!any_) t0_ = t1_ = 0;
    if (t1_ == t0_) {
      if (t1_ < INT64_MAX) {
        ++t1_;
      } else {
        --t0_;
      }
    }
  }

  std::int64_t t0() const { return t0_; }
  std::int64_t t1() const { return t1_; }
  // t1() - t0(), at least 1.
  std::uint64_t span() const { return offset(t1_); }
  // t - t0() with t clamped to the range.
  std::uint64_t offset(std::int64_t t) const {
    t = std::clamp(t, t0_, t1_);
    return static_cast<std::uint64_t>(t) - static_cast<std::uint64_t>(t0_);
  }
  double x_of_offset(std::uint64_t off) const {
    const double f = static_cast<double>(off) / static_cast<double>(span());
    return kChartX0 + std::min(f, 1.0) * (kChartX1 - kChartX0);
  }
  double x(std::int64_t t) const { return x_of_offset(offset(t)); }

 private:
  std::int64_t t0_ = INT64_MAX;
  std::int64_t t1_ = INT64_MIN;
  bool any_ = false;
};

// A tick step of 1, 2 or 5 times a power of ten giving at most ~8 ticks.
std::uint64_t tick_step(std::uint64_t span) {
  const double raw = static_cast<double>(span) / 8.0;
  const double mag = std::pow(10.0, std::floor(std::log10(std::max(raw, 1.0))));
  // raw <= 2^64 / 8, so f * mag <= 5e18 and fits.
  for (const double f : {1.0, 2.0, 5.0, 10.0}) {
    if (f * mag >= raw) {
      return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(f * mag));
    }
  }
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(10 * mag));
}

// One marker shape per kind of mark on a row whose top is `y`.
void draw_marks(std::string& svg, const Scale& scale,
                const std::vector<TimelineMark>& marks, bool retry,
                const std::string& entity, double y, double height) {
  for (const TimelineMark& m : marks) {
    const double x = scale.x(m.at_ms);
    if (retry) {
      svg += fmt::format(
          "<g data-retry=\"{}\"><title>retry at {}: {}</title>"
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
          "stroke=\"#ff8f00\" stroke-width=\"1.5\"/>"
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#ff8f00\" "
          "stroke=\"#ffffff\" stroke-width=\"1\"/></g>\n",
          esc(entity), format_time_ms(m.at_ms), esc(m.text), x, y + 1, x,
          y + height - 1, x, y + 3);
    } else {
      svg += fmt::format(
          "<g data-dead-letter=\"{}\"><title>dead letter at {}: {}</title>"
          "<path d=\"M{:.1f} {:.1f} l8 8 m0 -8 l-8 8\" stroke=\"#b71c1c\" "
          "stroke-width=\"2.5\"/></g>\n",
          esc(entity), format_time_ms(m.at_ms), esc(m.text), x - 4,
          y + height / 2 - 4);
    }
  }
}

// Hatched paused intervals over [y, y + height).
void draw_paused(std::string& svg, const Scale& scale,
                 const std::vector<TimeSpan>& spans, const std::string& owner,
                 double y, double height, bool label) {
  for (const TimeSpan& p : spans) {
    const std::int64_t to = p.to_ms.value_or(scale.t1());
    const double x0 = scale.x(p.from_ms);
    const double w = std::max(2.0, scale.x(to) - x0);
    svg += fmt::format(
        "<rect data-paused=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
        "height=\"{:.1f}\" fill=\"url(#paused)\" stroke=\"#f9a825\" "
        "stroke-width=\"1\"><title>paused {} ({})</title></rect>\n",
        esc(owner), x0, y, w, height, gap_text(p.from_ms, to),
        p.to_ms ? "resumed" : "still paused");
    if (label) {
      svg += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"#8d6e00\">"
          "paused {}</text>\n",
          x0 + 2, y - 3, gap_text(p.from_ms, to));
    }
  }
}

// The text beside a bar: status, duration, retries, dead letters.
std::string bar_label(WorkflowStatus status,
                      const std::optional<std::int64_t>& duration,
                      std::size_t retries, std::size_t dead_letters,
                      bool started) {
  std::string text(status_name(status));
  if (!started) {
    text += status == WorkflowStatus::kNotStarted ? " (never ran)"
                                                  : " (no start time)";
  }
  if (duration) text += " \u00b7 " + format_duration_ms(*duration);
  if (retries != 0) {
    text +=
        fmt::format(" \u00b7 {} retr{}", retries, retries == 1 ? "y" : "ies");
  }
  if (dead_letters != 0) {
    text += fmt::format(" \u00b7 {} dead letter{}", dead_letters,
                        dead_letters == 1 ? "" : "s");
  }
  return text;
}

// A bar from `start` to `end` (the chart's end while open); a never started
// entity gets a faint dashed bar across the chart.
struct Bar {
  double x = 0;
  double width = 0;
  bool started = false;
};

Bar bar_of(const Scale& scale, const std::optional<std::int64_t>& start,
           const std::optional<std::int64_t>& end) {
  if (!start) return {kChartX0, kChartX1 - kChartX0, false};
  const double x0 = scale.x(*start);
  const double x1 = scale.x(end.value_or(scale.t1()));
  return {x0, std::max(2.0, x1 - x0), true};
}

std::string bar_style(WorkflowStatus status, bool started) {
  if (started) {
    return fmt::format("fill=\"{}\"", timeline_status_color(status));
  }
  return fmt::format(
      "fill=\"{}\" fill-opacity=\"0.3\" stroke=\"#9e9e9e\" "
      "stroke-dasharray=\"4 3\"",
      timeline_status_color(status));
}

}  // namespace

std::string_view timeline_status_color(WorkflowStatus status) {
  switch (status) {
    case WorkflowStatus::kNotStarted:
      return "#bdbdbd";
    case WorkflowStatus::kRunning:
      return "#1565c0";
    case WorkflowStatus::kPaused:
    case WorkflowStatus::kSuspended:
      return "#f9a825";
    case WorkflowStatus::kSucceeded:
      return "#2e7d32";
    case WorkflowStatus::kFailedContinue:
      return "#ef6c00";
    case WorkflowStatus::kTerminal:
      return "#c62828";
    case WorkflowStatus::kCanceled:
      return "#616161";
    case WorkflowStatus::kRedirect:
      return "#00838f";
    case WorkflowStatus::kStopped:
      return "#6a1b9a";
    case WorkflowStatus::kSkipped:
      return "#90a4ae";
    case WorkflowStatus::kBuffered:
      return "#8d6e63";
  }
  return "#000000";
}

std::string format_duration_ms(std::int64_t ms) { return gap_text(0, ms); }

std::string render_timeline_svg(const WorkflowTimeline& tl) {
  const Scale scale(tl);
  const double rows_top = kHeaderHeight + kRowHeight;  // after the workflow row
  const double rows_bottom =
      rows_top + kRowHeight * static_cast<double>(tl.stages.size());
  const double height = rows_bottom + kAxisHeight;
  std::string svg;
  svg += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"Helvetica, "
      "Arial, sans-serif\" font-size=\"12\" data-workflow-id=\"{2}\">\n",
      kWidth, height, esc(tl.workflow_id));
  svg += fmt::format("<title>timeline of workflow {}</title>\n",
                     esc(tl.workflow_id));
  svg +=
      "<defs><pattern id=\"paused\" patternUnits=\"userSpaceOnUse\" "
      "width=\"6\" height=\"6\" patternTransform=\"rotate(45)\">"
      "<rect x=\"0\" y=\"0\" width=\"2.5\" height=\"6\" fill=\"#f9a825\" "
      "fill-opacity=\"0.55\"/></pattern></defs>\n";
  svg += fmt::format(
      "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
      kWidth, height);

  // Header: the workflow, its status and times.
  const WorkflowStatus wf_status = tl.status.value_or(tl.current_status);
  std::size_t retries = 0;
  std::size_t dead_letters = 0;
  for (const StageSpan& s : tl.stages) {
    retries += s.retries.size();
    dead_letters += s.dead_letters.size();
    for (const TaskSpan& t : s.tasks) {
      retries += t.retries.size();
      dead_letters += t.dead_letters.size();
    }
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">{}</text>"
      "\n",
      kNameX,
      esc(tl.name.empty() ? tl.workflow_id
                          : tl.name + " (" + tl.workflow_id + ")"));
  std::string summary = fmt::format("{}", status_name(wf_status));
  if (tl.start_ms) summary += ", started " + format_time_ms(*tl.start_ms);
  if (tl.total_duration_ms) {
    summary += ", took " + format_duration_ms(*tl.total_duration_ms);
  }
  const auto count = [](std::size_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
  };
  summary += ", " + count(tl.stages.size(), "stage", "stages") + ", " +
             count(retries, "retry", "retries") + ", " +
             count(dead_letters, "dead letter", "dead letters") + ", " +
             count(tl.paused.size(), "pause", "pauses");
  if (!tl.cancel_requests.empty()) summary += ", cancel requested";
  svg += fmt::format(
      "<text x=\"{}\" y=\"42\" fill=\"#424242\" data-summary=\"1\">{}</text>\n",
      kNameX, esc(summary));

  // Grid lines and the axis.
  const std::uint64_t step = tick_step(scale.span());
  std::string axis;
  for (std::uint64_t k = 0; k <= scale.span() / step; ++k) {
    const std::uint64_t t = k * step;  // <= span: no overflow
    const double x = scale.x_of_offset(t);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" "
        "stroke=\"#eeeeee\"/>\n",
        x, kHeaderHeight, rows_bottom);
    axis += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" "
        "stroke=\"#616161\"/><text x=\"{0:.1f}\" y=\"{3}\" "
        "text-anchor=\"middle\" font-size=\"10\" fill=\"#424242\">+{4}</text>"
        "\n",
        x, rows_bottom + 4, rows_bottom + 9, rows_bottom + 21,
        magnitude_text(t));
  }
  svg += fmt::format(
      "<g data-axis=\"time\"><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
      "stroke=\"#616161\"/>\n{}<text x=\"{}\" y=\"{}\" font-size=\"10\" "
      "fill=\"#424242\">time since {} (UTC)  \u00b7  orange dot: retry  "
      "\u00b7  red cross: dead letter  \u00b7  hatched: paused  \u00b7  "
      "diamond: cancel requested</text></g>\n",
      kChartX0, rows_bottom + 4, kChartX1, rows_bottom + 4, axis, kChartX0,
      rows_bottom + 40, format_time_ms(scale.t0()));

  // The workflow's row.
  {
    const double y = kHeaderHeight;
    const Bar bar = bar_of(scale, tl.start_ms, tl.end_ms);
    svg += fmt::format(
        "<text x=\"{}\" y=\"{:.1f}\" font-weight=\"bold\">workflow</text>\n",
        kNameX, y + kBarY + 12);
    svg += fmt::format(
        "<rect data-workflow=\"{}\" data-status=\"{}\" x=\"{:.1f}\" "
        "y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" rx=\"3\" {}><title>{} "
        "{}</title></rect>\n",
        esc(tl.workflow_id), status_name(wf_status), bar.x, y + kBarY,
        bar.width, kBarHeight, bar_style(wf_status, bar.started),
        esc(tl.workflow_id), status_name(wf_status));
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#212121\">{}</text>\n",
        bar.x + bar.width + 6, y + kBarY + 12,
        esc(bar_label(wf_status, tl.total_duration_ms, 0, 0, bar.started)));
    for (const TimelineMark& m : tl.cancel_requests) {
      const double x = scale.x(m.at_ms);
      svg += fmt::format(
          "<g data-cancel-request=\"{}\"><title>cancel requested at {} {}"
          "</title><path d=\"M{:.1f} {:.1f} l6 6 l-6 6 l-6 -6 z\" "
          "fill=\"#212121\"/></g>\n",
          esc(tl.workflow_id), format_time_ms(m.at_ms), esc(m.text), x,
          y + kBarY + 2);
    }
  }
  draw_paused(svg, scale, tl.paused, "workflow", kHeaderHeight + 2,
              rows_bottom - kHeaderHeight - 2, true);

  // One row per stage.
  for (std::size_t i = 0; i < tl.stages.size(); ++i) {
    const StageSpan& s = tl.stages[i];
    const double y = rows_top + kRowHeight * static_cast<double>(i);
    const bool synthetic = s.parent_stage_id.has_value();
    const std::string name = s.name.empty() ? s.id : s.name;
    svg += fmt::format(
        "<text x=\"{}\" y=\"{:.1f}\" fill=\"#212121\">{}{}</text>\n",
        kNameX + (synthetic ? 14 : 0), y + kBarY + 12,
        synthetic ? "\u21b3 " : "", esc(shorten(name, 31)));
    const Bar bar = bar_of(scale, s.start_ms, s.end_ms);
    svg += fmt::format(
        "<rect data-stage=\"{}\" data-status=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" "
        "width=\"{:.1f}\" height=\"{}\" rx=\"3\" {}><title>{} ({}, type {}): "
        "{}{}</title></rect>\n",
        esc(s.id), status_name(s.status), bar.x, y + kBarY, bar.width,
        kBarHeight, bar_style(s.status, bar.started), esc(name), esc(s.id),
        esc(s.type), status_name(s.status),
        s.start_ms ? ", from " + format_time_ms(*s.start_ms) : std::string());
    std::size_t row_retries = s.retries.size();
    std::size_t row_dead = s.dead_letters.size();
    for (const TaskSpan& t : s.tasks) {
      row_retries += t.retries.size();
      row_dead += t.dead_letters.size();
      if (!t.start_ms) continue;
      const Bar tb = bar_of(scale, t.start_ms, t.end_ms);
      svg += fmt::format(
          "<rect data-task=\"{}\" data-status=\"{}\" x=\"{:.1f}\" "
          "y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\" "
          "fill-opacity=\"0.7\"><title>task {} ({}): {}</title></rect>\n",
          esc(t.id), status_name(t.status), tb.x, y + kTaskY, tb.width,
          kTaskHeight, timeline_status_color(t.status), esc(t.name), esc(t.id),
          status_name(t.status));
    }
    draw_paused(svg, scale, s.paused, s.id, y + kBarY, kBarHeight, false);
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#212121\" "
        "data-label=\"{}\">{}</text>\n",
        std::min(bar.x + bar.width + 6, kChartX1 + 6), y + kBarY + 12,
        esc(s.id),
        esc(bar_label(s.status, s.duration_ms, row_retries, row_dead,
                      bar.started)));
    draw_marks(svg, scale, s.retries, true, s.id, y, kRowHeight - 4);
    draw_marks(svg, scale, s.dead_letters, false, s.id, y, kRowHeight - 4);
    for (const TaskSpan& t : s.tasks) {
      draw_marks(svg, scale, t.retries, true, t.id, y, kRowHeight - 4);
      draw_marks(svg, scale, t.dead_letters, false, t.id, y, kRowHeight - 4);
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace wfstore
