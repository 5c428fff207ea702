// Window -> text per modality, the way the model reads it (deterministic):
//   metrics: per component and KPI, the window's mean and its deviation from the store's baseline (z), with a word
//            (high, very high, low, very low) where |z| >= level_z, the most deviating series first; optionally
//            (system_kpis) first the system's move per KPI, the median z over its components; optionally
//            (sample_gaps) before all of it "missing samples" for a component with a series reporting fewer samples
//            than usual;
//   traces:  per caller -> callee service edge, calls, latency p50/p95, the caller's wait beyond it (below), error
//            rate; slowest and erroring first, with a word (slow, very slow, delayed, erroring) where a value is
//            level_z above the edge's typical one (EdgeBaseline), those edges first in short lines as the metrics'
//            deviating series. The wait (SerializerOptions::caller_wait): where the caller's span has the callee's span as its only child (a client
//            span, as OpenTelemetry and Jaeger record a call), how much longer the caller waited than the callee
//            worked: the network and the callee's queue. A network delay or a starved callee shows there and
//            nowhere else: the callee's own span does not grow, and the caller's grows as if it were slow itself.
//   logs:    template counts, warnings and errors first, with their parameters.
// Lines are added in order while the token budget allows (counted with the tokenizer, exactly). A per-component
// variant restricts every modality to one component, for failure localization.
//
// What a text never carries: what identifies the window rather than its state. Pre-training matches the three texts
// of a window against the other windows of the global batch (InfoNCE); anything unique to the window that two of
// its texts share solves that objective without reading the state. Field by field:
//   - the window's time and index: not shown (the header says only the window's length). A timestamp in every
//     text is the strongest such key: the loss falls to ~0 by matching clock tokens.
//   - trace, span and request ids: never shown (edges are aggregated per service pair).
//   - log parameters: numbers (durations, counts, random values), ids (4+ digits in a row, hex of 8+, UUIDs,
//     blobs over 40 characters: order/trace/request ids, timestamps) and clock times (12:01:38.359) are masked as
//     <*>; words (an operation, a callee, an exception class) and HTTP status codes describe the state and are kept.
//   - metric values, call counts, latencies, error rates: the state itself; rounded to 3 significant digits.
// Two windows with the same events at different times serialize to the same texts (tested).
#pragma once

#include <cstdint>
#include <string>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "data/window_store.h"

namespace rslicer::data {

class Tokenizer;

// Each (component, metric) series' typical value and spread: what a metric's z in the texts is against. Two
// statistics, by what the store's labels may tell (SerializerOptions::metric_baseline):
//   - of the normal windows of the store's tuning side (the windows whose labels the user has and tunes on; those
//     before the split, tuning::training_prefix): the mean and standard deviation of their samples. Labels of test
//     windows are never read: a store's texts would depend on what it is evaluated on (a leak of test labels);
//   - of all windows, without labels (a store with no tuning side: a new system or date, a test store): the median
//     of the samples and their central 90% range (P95 - P5) in standard deviations of a normal distribution. A
//     fault moves a few pods for minutes, under 5% of a series' samples, which the central range leaves out, while
//     it keeps the workload's swings, so that a busy hour is not "very high" everywhere (the median absolute
//     deviation did that). The faults still widen it: on the demo and Nezha a fault stands out less than against
//     the normal windows (bench/quality/baseline-without-labels-2026-12-07.md).
// Samples come from up to `max_windows` windows, evenly spaced.
struct MetricBaseline {
  std::unordered_map<std::uint64_t, std::pair<double, double>> stats;  // key: component << 32 | metric
  // The store's first windows whose labels the statistic read (0: none, label-free): every one of them must be on
  // the tuning side of any split the texts are evaluated with (tuning::split_rows checks it).
  std::size_t label_windows = 0;
  static MetricBaseline from_store(const WindowStoreReader& store, std::size_t max_windows = 200);
  // The normal windows (label 0) among the store's first `tuning_windows`; none when they are fewer than
  // kMinNormalWindows (too few to tell a series' spread).
  static std::optional<MetricBaseline> from_normal_windows(const WindowStoreReader& store, std::size_t tuning_windows,
                                                           std::size_t max_windows = 200);
  // The statistic `mode` asks for ("tuning_normal": the tuning side's normal windows where there are enough, else all
  // windows; "all_windows": all windows, labels unread).
  static MetricBaseline for_store(const WindowStoreReader& store, const std::string& mode, std::size_t tuning_windows);
  // A ConfigError naming `key` unless `mode` is one of the two statistics.
  static void check_mode(const std::string& mode, const std::string& key);
  // How far `value` is from the series' typical value in spreads, the spread floored at 1% of the typical value
  // (and 1e-3): a series constant nearly always (a success rate of exactly 100%) has a spread of 0, and its fall
  // to 50% is the largest deviation there is, not none. 0 for a series without a baseline.
  double z_of(std::int32_t component, std::int32_t metric, double value) const;
  static constexpr double kRelativeFloor = 0.01, kAbsoluteFloor = 1e-3;
  static constexpr double kCentralNinetyInSds = 3.29;  // P95 - P5 of a normal distribution, in standard deviations
  static constexpr std::size_t kMinNormalWindows = 20;
};

// Each (component, metric) series' typical number of samples per window: the median over up to `max_windows` of
// the store's windows, evenly spaced (a window without the series counts 0; labels never read). Read only where
// SerializerOptions::sample_gaps asks for it.
struct SampleCounts {
  std::unordered_map<std::uint64_t, std::size_t> per_window;  // key: component << 32 | metric
  static SampleCounts from_store(const WindowStoreReader& store, std::size_t max_windows = 200);
  // Whether a window's `count` samples of the series are fewer than usual: at most half its typical count, of a
  // series sampled at least kMinTypical times a window. Scrapes whose times fall on the windows' boundaries (a
  // 15 s scrape and windows on the minute) move a sample in or out at each boundary by their jitter: a window then
  // holds from typical - 1 to typical + 1 samples, never half of a typical 3 or more; a series sampled once or
  // twice a window has no such margin (and a missing series is a component's absence, not a gap).
  bool misses_samples(std::int32_t component, std::int32_t metric, std::size_t count) const;
  static constexpr std::size_t kMinTypical = 3;
};

// Each service edge's typical values (caller service, or -1 for the entry, -> callee service): the median and the
// scaled median absolute deviation of its p95 latency, error rate and p95 wait over up to `max_windows` windows with
// spans, so that an edge can say "slow", "erroring" or "delayed" in words. Windows with spans, normal or not: stores
// such as Nezha's record traces only around faults, and the median over many faults' windows is each edge's typical
// value (a fault touches few edges); no labels are read.
struct EdgeBaseline {
  struct Typical {
    double median = 0, spread = 0;  // spread: 1.4826 x MAD (the sd of a normal sample)
  };
  struct EdgeTypical {
    Typical p95_ms, error_rate;
    Typical wait_p95_ms;  // of the windows where the edge has a wait (a client span in the caller); else zeros
    bool has_wait = false;
  };
  std::map<std::pair<std::int32_t, std::int32_t>, EdgeTypical> edges;
  static EdgeBaseline from_store(const WindowStoreReader& store, std::size_t max_windows = 200);
  const EdgeTypical* of(std::int32_t caller, std::int32_t callee) const;
  // The service calls seen (caller -> callee, the entry left out): the store's call graph, for failure localization.
  std::vector<std::pair<std::int32_t, std::int32_t>> calls() const;
};

struct SerializerOptions {
  std::size_t max_tokens = 512;  // per modality text, <|endoftext|> included
  // Ablations only (bench/quality/ablation): the window's UTC time in every header, log parameters unmasked.
  // Both put a key shared by a window's texts back (see above); the defaults are what the model should read.
  bool show_time = false;
  bool mask_event_params = true;
  // A metric series with |z| >= level_z carries a word for its deviation (high / low; very, from |z| 5 on), and
  // so does a trace edge (slow, very slow, erroring). 0: no words, values only (the ablation).
  double level_z = 2.0;
  // A trace edge shows the caller's wait beyond the callee's span (and "delayed" where it is level_z above its
  // typical value; see above). Off by default: on the demo and on Nezha it did not help (docs/data.md).
  bool caller_wait = false;
  // The metrics text of a window starts with the system's move on its `system_kpis` most moved KPIs ("all
  // CpuUsage(m) high z +2.3": the median z over the components reporting the KPI), the workload's level, which no
  // single pod's line says. 0: none. Not in one component's text (failure localization compares pods).
  std::size_t system_kpis = 0;
  // What a metric's z is against (MetricBaseline): "all_windows" (labels never read), or "tuning_normal", the
  // normal windows of the store's tuning side (given to WindowSerializer; a store without one: all windows). The
  // latter lifts the demo's held-out period and lowers Nezha's later faults, whose normal differs from the earlier
  // one (bench/quality/metric-baseline-tuning-2026-12-07.md): off by default.
  std::string metric_baseline = "all_windows";
  // A component with a series that reports fewer samples than usual in the window (SampleCounts::misses_samples)
  // says "missing samples" first in its metrics text. A pod that stops reporting for part of a window (killed,
  // restarting) otherwise shows only the mean of the samples it did report. Off by default: on the demo it left
  // the killed pods' fault type as unrecognised as before (bench/quality/sample-gaps-2026-12-07.md); Nezha samples
  // once a window and never shows it.
  bool sample_gaps = false;
};

struct ModalityTexts {
  std::string metrics, traces, logs;
};

class WindowSerializer {
 public:
  // `tuning_windows`: the store's first windows are its tuning side, whose labels the metric baseline may read
  // (tuning::training_prefix of the split the texts are evaluated with; 0: none, a store only tested or unlabelled).
  WindowSerializer(const WindowStoreReader& store, const Tokenizer& tokenizer, SerializerOptions options,
                   std::size_t tuning_windows = 0);

  ModalityTexts serialize(const Window& window, const WindowData& data) const;
  // The same, restricted to one component (a pod: its own series, its edges as caller or callee, its logs).
  ModalityTexts serialize_component(const Window& window, const WindowData& data, std::int32_t component) const;
  // The store's edges as read for the texts (the words use them only with level_z > 0); their calls are the
  // store's call graph.
  const EdgeBaseline& edge_baseline() const { return edge_baseline_; }
  const MetricBaseline& metric_baseline() const { return baseline_; }

 private:
  const WindowStoreReader& store_;
  const Tokenizer& tokenizer_;
  SerializerOptions options_;
  MetricBaseline baseline_;
  EdgeBaseline edge_baseline_;
  SampleCounts sample_counts_;  // empty unless options_.sample_gaps
  std::vector<std::string> display_names_;  // a pod shows as its service (+ "-<suffix>" when it has replicas)

  ModalityTexts render(const Window& window, const WindowData& data, std::int32_t only_component) const;
  std::string fit(const std::string& header, const std::vector<std::string>& lines) const;
  std::vector<std::string> system_lines(const std::map<std::int32_t, std::vector<double>>& z_by_metric) const;
};

}  // namespace rslicer::data
