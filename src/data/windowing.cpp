#include "data/windowing.h"

#include <algorithm>

#include "core/error.h"

namespace rslicer::data {

namespace {
template <typename T, typename Time>
std::array<std::int64_t, 2> range_of(const std::vector<T>& items, std::int64_t begin, std::int64_t end, Time time) {
  auto lo = std::lower_bound(items.begin(), items.end(), begin, [&](const T& x, std::int64_t t) { return time(x) < t; });
  auto hi = std::lower_bound(lo, items.end(), end, [&](const T& x, std::int64_t t) { return time(x) < t; });
  return {static_cast<std::int64_t>(lo - items.begin()), static_cast<std::int64_t>(hi - items.begin())};
}

std::int64_t overlap(std::int64_t a0, std::int64_t a1, std::int64_t b0, std::int64_t b1) {
  return std::max<std::int64_t>(0, std::min(a1, b1) - std::max(a0, b0));
}
}  // namespace

std::vector<Window> make_windows(const Telemetry& t, const WindowingOptions& options) {
  if (options.length_ns <= 0 || options.stride_ns <= 0)
    throw ConfigError("window length and stride must be positive", "data.window", "length_s > 0 and stride_s > 0");
  std::vector<Window> windows;
  const std::int64_t begin = t.begin_ns(), end = t.end_ns();
  if (end <= begin) return windows;
  // Align to the stride so that stores of the same system cut windows at the same instants.
  const std::int64_t first = begin - (begin % options.stride_ns);
  // The next event at or after `t` in any stream: windows in a gap with no events are skipped in one step.
  auto next_event = [&](std::int64_t t0) {
    std::int64_t next = end;
    auto consider = [&](const auto& items, auto time) {
      auto it = std::lower_bound(items.begin(), items.end(), t0, [&](const auto& x, std::int64_t v) { return time(x) < v; });
      if (it != items.end()) next = std::min(next, time(*it));
    };
    consider(t.metrics, [](const MetricSample& m) { return m.time_ns; });
    consider(t.spans, [](const Span& s) { return s.start_ns; });
    consider(t.logs, [](const LogRecord& l) { return l.time_ns; });
    return next;
  };
  for (std::int64_t w0 = first; w0 < end; w0 += options.stride_ns) {
    std::int64_t next = next_event(w0);
    if (next >= w0 + options.length_ns) {  // empty window: jump to the first window that holds `next`
      std::int64_t target = next - options.length_ns + 1;
      std::int64_t aligned = target - ((target % options.stride_ns) + options.stride_ns) % options.stride_ns;
      if (aligned > w0) w0 = aligned;
      if (w0 >= end) break;
    }
    Window w;
    w.begin_ns = w0;
    w.end_ns = w0 + options.length_ns;
    w.metric_range = range_of(t.metrics, w.begin_ns, w.end_ns, [](const MetricSample& m) { return m.time_ns; });
    w.span_range = range_of(t.spans, w.begin_ns, w.end_ns, [](const Span& s) { return s.start_ns; });
    w.log_range = range_of(t.logs, w.begin_ns, w.end_ns, [](const LogRecord& l) { return l.time_ns; });
    w.modality_mask = static_cast<std::uint8_t>((w.metric_range[1] > w.metric_range[0] ? kMetricBit : 0) |
                                                (w.span_range[1] > w.span_range[0] ? kTraceBit : 0) |
                                                (w.log_range[1] > w.log_range[0] ? kLogBit : 0));
    if (w.modality_mask == 0) continue;  // nothing observed: not a window of the system
    std::int64_t best = 0;
    for (const auto& r : t.regimes) {
      std::int64_t o = overlap(w.begin_ns, w.end_ns, r.begin_ns, r.end_ns);
      if (o > best) {
        best = o;
        w.regime = r.regime;
      }
    }
    windows.push_back(w);
  }
  label_windows(windows, t.faults, t.labels_known);
  return windows;
}

void label_windows(std::vector<Window>& windows, const std::vector<Fault>& faults, bool labels_known) {
  for (auto& w : windows) {
    w.label = labels_known ? 0 : -1;
    w.fault = -1;
    std::int64_t best = 0;
    for (std::size_t f = 0; f < faults.size(); ++f) {
      std::int64_t o = overlap(w.begin_ns, w.end_ns, faults[f].begin_ns, faults[f].end_ns);
      if (o > best) {
        best = o;
        w.fault = static_cast<std::int32_t>(f);
        w.label = 1;
      }
    }
  }
}

double overlap_ratio(const Window& a, const Window& b) {
  const std::int64_t length = std::max(a.end_ns - a.begin_ns, b.end_ns - b.begin_ns);
  if (length <= 0) return 0.0;
  return static_cast<double>(overlap(a.begin_ns, a.end_ns, b.begin_ns, b.end_ns)) / static_cast<double>(length);
}

}  // namespace rslicer::data
