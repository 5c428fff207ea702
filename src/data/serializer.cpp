#include "data/serializer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/time_parse.h"
#include "data/tokenizer.h"

namespace rslicer::data {

namespace {
std::uint64_t key(std::int32_t component, std::int32_t metric) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(component)) << 32) | static_cast<std::uint32_t>(metric);
}

std::string number(double v) {
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) return fmt::format("{:.2e}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

// A log parameter that identifies its event rather than the state: a number (a duration, a count, a random
// value), an id (hex of 8+ digits, a UUID, 4+ digits in a row: order, trace and request ids, timestamps), a clock
// time (digits on both sides of a ':', as 22:01:38.359: Nezha's Train-Ticket logs end with the time of day, the
// window's time in other words) or a long blob. HTTP status classes (3-digit 1xx-5xx) and words (an operation, a
// callee, an exception class) describe the state and are kept.
bool is_clock_time(const std::string& p) {
  for (std::size_t i = 1; i + 1 < p.size(); ++i)
    if (p[i] == ':' && std::isdigit(static_cast<unsigned char>(p[i - 1])) && std::isdigit(static_cast<unsigned char>(p[i + 1])))
      return true;
  return false;
}

bool identifies_the_event(const std::string& p) {
  if (p.empty() || p.size() > 40) return !p.empty();
  if (is_clock_time(p)) return true;
  std::size_t digits = 0, run = 0, max_run = 0, hex_run = 0, max_hex_run = 0;
  for (unsigned char c : p) {
    const bool digit = std::isdigit(c) != 0, hex = std::isxdigit(c) != 0;
    digits += digit;
    run = digit ? run + 1 : 0;
    hex_run = hex ? hex_run + 1 : 0;
    max_run = std::max(max_run, run);
    max_hex_run = std::max(max_hex_run, hex_run);
  }
  if (p.size() == 3 && digits == 3 && p[0] >= '1' && p[0] <= '5') return false;  // a status code
  if (max_run >= 4) return true;
  if (max_hex_run >= 8 && digits > 0) return true;
  char* end = nullptr;
  std::strtod(p.c_str(), &end);
  return end == p.c_str() + p.size();  // a number: 12, 3.5, -7, 1e3
}

// The parameters of a log line as shown: event-identifying ones masked (see identifies_the_event).
std::string shown_params(const std::string& joined, bool mask) {
  std::string out;
  std::size_t begin = 0;
  while (begin <= joined.size()) {
    std::size_t end = joined.find('\x1f', begin);
    if (end == std::string::npos) end = joined.size();
    const std::string p = joined.substr(begin, end - begin);
    if (!out.empty()) out += ',';
    out += mask && identifies_the_event(p) ? std::string("<*>") : p;
    begin = end + 1;
  }
  return out;
}

// The q-quantile of values already in ascending order (the element at floor(q n)); 0 for none.
double sorted_percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<std::size_t>(
      std::min<double>(sorted.size() - 1, std::floor(q * static_cast<double>(sorted.size()))))];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return sorted_percentile(v, q);
}

std::int32_t service_of(const std::vector<Component>& comps, std::int32_t c) {
  if (c < 0 || static_cast<std::size_t>(c) >= comps.size()) return c;
  const std::int32_t s = comps[static_cast<std::size_t>(c)].service;
  return s >= 0 ? s : c;
}

struct Edge {
  std::vector<double> ms;       // the callee's spans
  std::vector<double> wait_ms;  // the caller's wait beyond them, where the caller's span is a client span (see header)
  int errors = 0;
  double p95() const { return percentile(ms, 0.95); }
  double wait_p95() const { return percentile(wait_ms, 0.95); }
  double error_rate() const { return static_cast<double>(errors) / static_cast<double>(ms.size()); }
};
using EdgeKey = std::pair<std::int32_t, std::int32_t>;  // (caller service or -1 for the entry, callee service)

// The window's spans as service edges; with `only` >= 0, the edges where that component is the caller or callee.
std::map<EdgeKey, Edge> edges_of(const WindowData& data, const std::vector<Component>& comps, std::int32_t only) {
  std::unordered_map<std::uint64_t, std::size_t> span_index;
  std::unordered_map<std::uint64_t, int> children;
  for (std::size_t i = 0; i < data.spans.size(); ++i) {
    span_index[data.spans[i].span_id] = i;
    if (data.spans[i].parent_id) ++children[data.spans[i].parent_id];
  }
  std::map<EdgeKey, Edge> edges;
  for (const auto& s : data.spans) {
    const Span* parent = nullptr;
    if (s.parent_id) {
      auto it = span_index.find(s.parent_id);
      if (it != span_index.end()) parent = &data.spans[it->second];
    }
    const std::int32_t caller = parent ? parent->component : -1;
    if (only >= 0 && s.component != only && caller != only) continue;
    auto& e = edges[{caller >= 0 ? service_of(comps, caller) : -1, service_of(comps, s.component)}];
    e.ms.push_back(static_cast<double>(s.duration_ns) / 1e6);
    e.errors += s.status != 0;
    if (parent && caller != s.component && children[s.parent_id] == 1)
      e.wait_ms.push_back(static_cast<double>(std::max<std::int64_t>(0, parent->duration_ns - s.duration_ns)) / 1e6);
  }
  return edges;
}

// The score that ranks a line before every deviation's (-|z|).
constexpr double kGapsFirst = 1e9;

// Lines ranked by their score (lower first; ties keep their order): the short lines of what deviates, then all.
using Scored = std::vector<std::pair<double, std::string>>;
// A z's word: high, very high, low, very low from level_z on (5 for "very"); none below it or with level_z <= 0.
const char* level_word(double z, double level_z) {
  if (level_z <= 0 || std::fabs(z) < level_z) return "";
  return z >= 5 ? " very high" : z > 0 ? " high" : z > -5 ? " low" : " very low";
}

std::vector<std::string> ranked_lines(Scored deviating, Scored all) {
  const auto by_score = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::stable_sort(deviating.begin(), deviating.end(), by_score);
  std::stable_sort(all.begin(), all.end(), by_score);
  std::vector<std::string> lines;
  for (auto& s : deviating) lines.push_back(std::move(s.second));
  for (auto& s : all) lines.push_back(std::move(s.second));
  return lines;
}

// How far `value` is above its typical value in spreads. Floors keep a near-constant series (a spread of ~0) from
// calling every small change a deviation: `floor` (a tenth of a latency, or 1 ms of wait) and 1 us.
double excess(double value, const EdgeBaseline::Typical& t, double floor) {
  return (value - t.median) / std::max({t.spread, floor, 1e-3});
}

EdgeBaseline::Typical typical(std::vector<double> v) {
  EdgeBaseline::Typical t;
  t.median = percentile(v, 0.5);
  for (double& x : v) x = std::fabs(x - t.median);
  t.spread = 1.4826 * percentile(v, 0.5);
  return t;
}

// Up to `max_windows` of `rows` (window indices), evenly spaced.
std::vector<std::size_t> evenly_spaced(const std::vector<std::size_t>& rows, std::size_t max_windows) {
  const std::size_t step = std::max<std::size_t>(1, rows.size() / std::max<std::size_t>(max_windows, 1));
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < rows.size(); i += step) out.push_back(rows[i]);
  return out;
}
}  // namespace

EdgeBaseline EdgeBaseline::from_store(const WindowStoreReader& store, std::size_t max_windows) {
  std::vector<std::size_t> with_spans;
  for (std::size_t i = 0; i < store.windows().size(); ++i)
    if (store.windows()[i].span_range[1] > store.windows()[i].span_range[0]) with_spans.push_back(i);
  struct Seen {
    std::vector<double> p95_ms, error_rate, wait_p95_ms;
  };
  std::map<EdgeKey, Seen> seen;
  for (std::size_t row : evenly_spaced(with_spans, max_windows))
    for (const auto& [key, e] : edges_of(store.read_window(row), store.components(), -1)) {
      Seen& v = seen[key];
      v.p95_ms.push_back(e.p95());
      v.error_rate.push_back(e.error_rate());
      if (!e.wait_ms.empty()) v.wait_p95_ms.push_back(e.wait_p95());
    }
  EdgeBaseline b;
  for (auto& [key, v] : seen) {
    EdgeTypical& t = b.edges[key];
    t.p95_ms = typical(std::move(v.p95_ms));
    t.error_rate = typical(std::move(v.error_rate));
    t.has_wait = !v.wait_p95_ms.empty();
    if (t.has_wait) t.wait_p95_ms = typical(std::move(v.wait_p95_ms));
  }
  return b;
}

const EdgeBaseline::EdgeTypical* EdgeBaseline::of(std::int32_t caller, std::int32_t callee) const {
  auto it = edges.find({caller, callee});
  return it == edges.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::int32_t, std::int32_t>> EdgeBaseline::calls() const {
  std::vector<std::pair<std::int32_t, std::int32_t>> out;
  for (const auto& [key, typical] : edges)
    if (key.first >= 0 && key.first != key.second) out.push_back(key);
  return out;
}

namespace {
std::vector<std::size_t> all_windows(const WindowStoreReader& store) {
  std::vector<std::size_t> all(store.windows().size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  return all;
}

// Each series' samples over the windows `rows`.
std::unordered_map<std::uint64_t, std::vector<double>> series_samples(const WindowStoreReader& store,
                                                                      const std::vector<std::size_t>& rows) {
  std::unordered_map<std::uint64_t, std::vector<double>> samples;
  for (std::size_t row : rows)
    for (const auto& m : store.read_window(row).metrics) samples[key(m.component, m.metric)].push_back(m.value);
  return samples;
}
}  // namespace

MetricBaseline MetricBaseline::from_store(const WindowStoreReader& store, std::size_t max_windows) {
  const auto rows = evenly_spaced(all_windows(store), max_windows);
  MetricBaseline b;
  for (auto& [k, v] : series_samples(store, rows)) {
    std::sort(v.begin(), v.end());  // once for the three quantiles
    const double central_ninety = sorted_percentile(v, 0.95) - sorted_percentile(v, 0.05);
    b.stats[k] = {sorted_percentile(v, 0.5), central_ninety / kCentralNinetyInSds};
  }
  return b;
}

std::optional<MetricBaseline> MetricBaseline::from_normal_windows(const WindowStoreReader& store,
                                                                  std::size_t tuning_windows, std::size_t max_windows) {
  const auto& windows = store.windows();
  std::vector<std::size_t> normal;
  for (std::size_t i = 0; i < std::min(tuning_windows, windows.size()); ++i)
    if (windows[i].label == 0) normal.push_back(i);
  if (normal.size() < kMinNormalWindows) return std::nullopt;
  MetricBaseline b;
  b.label_windows = std::min(tuning_windows, windows.size());
  for (const auto& [k, v] : series_samples(store, evenly_spaced(normal, max_windows))) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double squares = 0;
    for (double x : v) squares += (x - mean) * (x - mean);
    b.stats[k] = {mean, std::sqrt(squares / static_cast<double>(v.size()))};
  }
  return b;
}

void MetricBaseline::check_mode(const std::string& mode, const std::string& key) {
  if (mode != "tuning_normal" && mode != "all_windows")
    throw ConfigError("metric baseline '" + mode + "'", key, "tuning_normal or all_windows");
}

MetricBaseline MetricBaseline::for_store(const WindowStoreReader& store, const std::string& mode,
                                         std::size_t tuning_windows) {
  check_mode(mode, "serializer.metric_baseline");
  if (mode == "all_windows") return from_store(store);
  if (auto tuned = from_normal_windows(store, tuning_windows)) return *tuned;
  return from_store(store);
}

double MetricBaseline::z_of(std::int32_t component, std::int32_t metric, double value) const {
  auto it = stats.find(key(component, metric));
  if (it == stats.end()) return 0.0;  // a series the normal windows never showed: no baseline to compare with
  const auto [mean, sd] = it->second;
  return (value - mean) / std::max({sd, kRelativeFloor * std::fabs(mean), kAbsoluteFloor});
}

SampleCounts SampleCounts::from_store(const WindowStoreReader& store, std::size_t max_windows) {
  const auto rows = evenly_spaced(all_windows(store), max_windows);
  std::unordered_map<std::uint64_t, std::vector<double>> counts;  // per series, its count in each window that has it
  for (std::size_t row : rows) {
    std::unordered_map<std::uint64_t, double> here;
    for (const auto& m : store.read_window(row).metrics) ++here[key(m.component, m.metric)];
    for (const auto& [k, c] : here) counts[k].push_back(c);
  }
  SampleCounts out;
  for (auto& [k, v] : counts) {
    v.resize(rows.size(), 0.0);  // the windows without the series
    out.per_window[k] = static_cast<std::size_t>(percentile(std::move(v), 0.5));
  }
  return out;
}

bool SampleCounts::misses_samples(std::int32_t component, std::int32_t metric, std::size_t count) const {
  auto it = per_window.find(key(component, metric));
  if (it == per_window.end() || it->second < kMinTypical) return false;
  return 2 * count <= it->second;
}

WindowSerializer::WindowSerializer(const WindowStoreReader& store, const Tokenizer& tokenizer, SerializerOptions options,
                                   std::size_t tuning_windows)
    : store_(store), tokenizer_(tokenizer), options_(options),
      baseline_(MetricBaseline::for_store(store, options_.metric_baseline, tuning_windows)),
      edge_baseline_(EdgeBaseline::from_store(store)),
      sample_counts_(options_.sample_gaps ? SampleCounts::from_store(store) : SampleCounts{}) {
  const auto& comps = store.components();
  std::unordered_map<std::int32_t, int> replicas;
  for (const auto& c : comps)
    if (c.kind == ComponentKind::pod && c.service >= 0) ++replicas[c.service];
  for (const auto& c : comps) {
    if (c.kind != ComponentKind::pod || c.service < 0) {
      display_names_.push_back(c.name);
      continue;
    }
    std::string service = comps.at(static_cast<std::size_t>(c.service)).name;
    auto dash = c.name.rfind('-');
    display_names_.push_back(replicas[c.service] > 1 && dash != std::string::npos ? service + c.name.substr(dash)
                                                                                   : service);
  }
}

ModalityTexts WindowSerializer::serialize(const Window& window, const WindowData& data) const {
  return render(window, data, -1);
}

ModalityTexts WindowSerializer::serialize_component(const Window& window, const WindowData& data,
                                                    std::int32_t component) const {
  return render(window, data, component);
}

std::string WindowSerializer::fit(const std::string& header, const std::vector<std::string>& lines) const {
  // Lines end in "\n" and start without whitespace, so the tokens of the text are the sum of the tokens of its
  // lines (the pre-tokenizer never joins across a newline here): the budget is counted line by line.
  std::string text = header + "\n";
  std::size_t used = tokenizer_.encode(text).size() + 1;  // + <|endoftext|>
  for (const auto& line : lines) {
    std::size_t n = tokenizer_.encode(line + "\n").size();
    if (used + n > options_.max_tokens) break;
    text += line + "\n";
    used += n;
  }
  return text;
}

// The system's move per KPI: the median z over the components that report it (3 or more), the largest |median|
// first, `system_kpis` of them. A workload change (more requests, a batch job, memory pressure) moves a KPI on most
// pods a little; each pod's line alone is then below the deviating ones and past the token budget, and the text did
// not say the load had changed (the demo's regimes: k-means on the windows' KPI means finds them, NMI ~0.8, on z
// ~0.3). A fault moves a few pods, which the median leaves out.
std::vector<std::string> WindowSerializer::system_lines(const std::map<std::int32_t, std::vector<double>>& z_by_metric) const {
  Scored medians;
  for (const auto& [metric, zs] : z_by_metric) {
    if (zs.size() < 3) continue;
    const double z = percentile(zs, 0.5);
    const std::string& metric_name = store_.metric_names().at(static_cast<std::size_t>(metric));
    medians.emplace_back(-std::fabs(z), fmt::format("all {}{} z {:+.1f}", metric_name, level_word(z, options_.level_z), z));
  }
  std::vector<std::string> lines = ranked_lines({}, std::move(medians));
  lines.resize(std::min(lines.size(), options_.system_kpis));
  return lines;
}

ModalityTexts WindowSerializer::render(const Window& window, const WindowData& data, std::int32_t only) const {
  const auto& comps = store_.components();
  auto name = [&](std::int32_t c) {
    return c >= 0 && static_cast<std::size_t>(c) < display_names_.size() ? display_names_[static_cast<std::size_t>(c)]
                                                                          : std::string("?");
  };
  // A line's subject: the component's name, except in a one-component text, where every line is that component's
  // (the name would only spend tokens, and FL/FC compare a component with itself and with other faults).
  auto subject = [&](std::int32_t c) { return only >= 0 ? std::string() : name(c) + " "; };
  // The window's length only, never its time: a timestamp shared by the three texts of a window would let the
  // contrastive loss match them by the clock instead of by the state.
  const std::string when = fmt::format("{}window {}s", options_.show_time ? format_utc(window.begin_ns) + " " : "",
                                       (window.end_ns - window.begin_ns) / 1'000'000'000);
  ModalityTexts out;

  // Metrics: first what deviates, then the values. A series at least level_z from its baseline is named with a
  // word (high, very high, low, very low) in a short line, most deviating first; then every series' value and z
  // (the deviating ones again, with the word). The value alone is a number the encoder must learn to read against
  // a baseline it never sees, the word is the same token in every store and system; and the short lines keep the
  // set of deviating series within the budget where a few correlated ones (p90/p95/p99 of one latency) would
  // otherwise fill it with their values. A component whose series reports fewer samples than usual (a pod that
  // stopped reporting for part of the window: killed, restarting, its exporter down) says "missing samples" before
  // everything else: its mean alone would look normal.
  {
    std::map<std::uint64_t, std::vector<float>> series;
    for (const auto& m : data.metrics)
      if (only < 0 || m.component == only) series[key(m.component, m.metric)].push_back(m.value);
    Scored scored, deviating;
    const bool system_wide = options_.system_kpis > 0 && only < 0;  // the system's move per KPI first
    std::map<std::int32_t, std::vector<double>> z_by_metric;
    std::set<std::int32_t> with_gaps;  // components with a series that reports fewer samples than usual
    for (const auto& [k, values] : series) {
      const auto component = static_cast<std::int32_t>(k >> 32), metric = static_cast<std::int32_t>(k & 0xffffffffu);
      if (options_.sample_gaps && sample_counts_.misses_samples(component, metric, values.size()) &&
          with_gaps.insert(component).second)
        deviating.emplace_back(-kGapsFirst, subject(component) + "missing samples");
      double sum = 0;
      for (float v : values) sum += v;
      const double mean = sum / static_cast<double>(values.size());
      const double z = baseline_.z_of(component, metric, mean);
      const char* level = level_word(z, options_.level_z);
      const std::string& metric_name = store_.metric_names().at(static_cast<std::size_t>(metric));
      if (*level) deviating.emplace_back(-std::fabs(z), subject(component) + metric_name + level);
      scored.emplace_back(-std::fabs(z), fmt::format("{}{}{} {} z {:+.1f}", subject(component), metric_name, level,
                                                     number(mean), z));
      if (system_wide) z_by_metric[metric].push_back(z);
    }
    const bool none = scored.empty();
    std::vector<std::string> lines = system_wide ? system_lines(z_by_metric) : std::vector<std::string>{};
    for (auto& line : ranked_lines(std::move(deviating), std::move(scored))) lines.push_back(std::move(line));
    out.metrics = fit("metrics " + when + (none ? " none" : ""), lines);
  }

  // Traces: caller -> callee edges between services, slowest and erroring first. An edge whose p95, wait or error
  // rate is level_z above its typical value (EdgeBaseline) says so in a word, and is named first in a short line.
  {
    Scored scored, deviating;
    for (const auto& [k, e] : edges_of(data, comps, only)) {
      const double p50 = percentile(e.ms, 0.5), p95 = e.p95(), err = e.error_rate();
      const bool waits = options_.caller_wait && !e.wait_ms.empty();
      const double wait = waits ? e.wait_p95() : 0.0;
      const std::string edge = (k.first < 0 ? std::string("entry") : name(k.first)) + " -> " + name(k.second);
      std::string word;
      const auto* typical = options_.level_z > 0 ? edge_baseline_.of(k.first, k.second) : nullptr;
      if (typical) {
        const double slow = excess(p95, typical->p95_ms, 0.1 * typical->p95_ms.median);
        const double delayed = waits && typical->has_wait ? excess(wait, typical->wait_p95_ms, 1.0) : 0.0;
        const double erring = (err - typical->error_rate.median) / std::max(typical->error_rate.spread, 0.02);
        if (slow >= options_.level_z) word += slow >= 5 ? " very slow" : " slow";
        if (delayed >= options_.level_z) word += " delayed";
        if (erring >= options_.level_z) word += " erroring";
        if (!word.empty()) deviating.emplace_back(-(std::max({slow, delayed, erring})), edge + word);
      }
      const std::string wait_text = waits ? fmt::format(" wait {}ms", number(wait)) : std::string();
      scored.emplace_back(-(err * 1e6 + p95 + wait), fmt::format("{}{} calls {} p50 {}ms p95 {}ms{} err {:.1f}%", edge,
                                                                word, e.ms.size(), number(p50), number(p95),
                                                                wait_text, err * 100));
    }
    const bool none = scored.empty();
    out.traces = fit("traces " + when + (none ? " none" : ""), ranked_lines(std::move(deviating), std::move(scored)));
  }

  // Logs: templates by level then count; errors and warnings show their latest parameters.
  {
    struct Group {
      int count = 0;
      LogLevel level = LogLevel::unknown;
      std::string last_params;
    };
    std::map<std::pair<std::int32_t, std::int32_t>, Group> groups;  // (component, template)
    for (const auto& l : data.logs) {
      if (only >= 0 && l.component != only) continue;
      auto& g = groups[{l.component, l.template_id}];
      ++g.count;
      g.level = std::max(g.level, l.level);
      g.last_params = l.params;
    }
    Scored scored;
    const char* level_names[] = {"LOG", "DEBUG", "INFO", "WARN", "ERROR"};
    for (const auto& [k, g] : groups) {
      std::string line = fmt::format("{} x{} {}{}", level_names[static_cast<int>(g.level)], g.count,
                                     only >= 0 ? std::string() : name(k.first) + ": ",
                                     store_.log_templates().at(static_cast<std::size_t>(k.second)));
      if (g.level >= LogLevel::warn && !g.last_params.empty())
        line += " [" + shown_params(g.last_params, options_.mask_event_params) + "]";
      scored.emplace_back(-(static_cast<double>(g.level) * 1e6 + g.count), line);
    }
    const bool none = scored.empty();
    out.logs = fit("logs " + when + (none ? " none" : ""), ranked_lines({}, std::move(scored)));
  }
  return out;
}

}  // namespace rslicer::data
