// The simulator, configured from the real configs/: determinism, labels, that each fault type moves the right
// signal of the right pod beyond normal variation (measured), and that the Nezha-layout path equals the direct one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "cli/simulate_command.h"
#include "core/error.h"
#include "config/composer.h"
#include "data/nezha_reader.h"
#include "data/nezha_writer.h"
#include "data/serializer.h"
#include "data/tokenizer.h"
#include "data/window_store.h"
#include "data/windowing.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;
namespace fs = std::filesystem;

namespace {

data::SimulatorSpec spec_from(std::vector<std::string> overrides) {
  config::Composer composer(std::string(RSLICER_SOURCE_DIR) + "/configs");
  YAML::Node root = composer.compose({"simulate", std::move(overrides)});
  return cli::simulator_spec(config::Config(config::job_config(root)));
}

std::size_t digest(const Telemetry& t) {
  std::size_t h = t.metrics.size() * 1315423911u + t.spans.size() * 2654435761u + t.logs.size();
  for (const auto& m : t.metrics) h = h * 31 + std::hash<float>()(m.value) + static_cast<std::size_t>(m.time_ns);
  for (const auto& s : t.spans) h = h * 31 + s.span_id + static_cast<std::size_t>(s.duration_ns);
  for (const auto& l : t.logs) h = h * 31 + std::hash<std::string>()(l.params);
  return h;
}

}  // namespace

TEST(Simulator, DeterministicForASeed) {
  auto spec = spec_from({"duration=2h"});
  Telemetry a = simulate(spec), b = simulate(spec);
  EXPECT_EQ(digest(a), digest(b));
  spec.seed = 7;
  EXPECT_NE(digest(simulate(spec)), digest(a));
}

TEST(Simulator, TopologiesOfTheRealSystems) {
  auto ob = spec_from({"system=online_boutique", "duration=10m"});
  EXPECT_EQ(ob.services.size(), 11u);  // 10 services + redis-cart... and frontend: see the config
  auto tt = spec_from({"system=train_ticket", "duration=10m"});
  EXPECT_GE(tt.services.size(), 40u);
  Telemetry t = simulate(tt);
  EXPECT_EQ(t.system, "train_ticket");
  for (const auto& c : t.components)
    if (c.kind == ComponentKind::pod) EXPECT_GE(c.service, 0) << c.name;
}

TEST(Simulator, LabelsFollowTheFaults) {
  auto spec = spec_from({"duration=6h", "seed=3"});
  Telemetry t = simulate(spec);
  ASSERT_GE(t.faults.size(), 5u);
  EXPECT_FALSE(t.regimes.empty());
  auto windows = make_windows(t, {60'000'000'000, 30'000'000'000});
  for (const auto& w : windows) {
    bool overlaps = false;
    for (const auto& f : t.faults) overlaps = overlaps || (w.begin_ns < f.end_ns && f.begin_ns < w.end_ns);
    EXPECT_EQ(w.label, overlaps ? 1 : 0);
    EXPECT_GE(w.regime, 0);
  }
  for (const auto& f : t.faults) {
    EXPECT_EQ(f.end_ns - f.begin_ns, 300'000'000'000LL);
    EXPECT_EQ(t.components.at(static_cast<std::size_t>(f.root_cause)).kind, ComponentKind::pod);
  }
}

namespace {

struct Signal {
  const char* fault;
  const char* kpi;
  double direction;  // +1: the fault raises it, -1: lowers it
};

// For each fault event: the KPI of the root-cause pod during the fault (after its first minute) against the
// 10 minutes before it. Returns the share of events whose shift exceeds 3 standard deviations of the before part.
double share_of_clear_shifts(const Telemetry& t, const std::string& kpi, double direction) {
  const std::int32_t metric = t.metric_names.find(kpi);
  int clear = 0;
  for (const auto& f : t.faults) {
    std::vector<double> before, during;
    for (const auto& m : t.metrics) {
      if (m.component != f.root_cause || m.metric != metric) continue;
      if (m.time_ns >= f.begin_ns - 600'000'000'000LL && m.time_ns < f.begin_ns) before.push_back(m.value);
      if (m.time_ns >= f.begin_ns + 60'000'000'000LL && m.time_ns < f.end_ns) during.push_back(m.value);
    }
    if (before.size() < 5 || during.empty()) continue;
    const double mb = std::accumulate(before.begin(), before.end(), 0.0) / static_cast<double>(before.size());
    const double md = std::accumulate(during.begin(), during.end(), 0.0) / static_cast<double>(during.size());
    double var = 0;
    for (double v : before) var += (v - mb) * (v - mb);
    const double sd = std::sqrt(var / static_cast<double>(before.size() - 1)) + 1e-9;
    clear += direction * (md - mb) / sd > 3.0;
  }
  return t.faults.empty() ? 0.0 : static_cast<double>(clear) / static_cast<double>(t.faults.size());
}

}  // namespace

TEST(Simulator, EachFaultShiftsTheExpectedSignalBeyondNormalVariation) {
  const Signal signals[] = {{"cpu_stress", "CpuUsage(m)", 1},           {"memory_stress", "MemoryUsage(Mi)", 1},
                            {"network_delay", "PodServerLatencyP90(s)", 1}, {"packet_loss", "PodSuccessRate(%)", -1},
                            {"exception", "PodSuccessRate(%)", -1},      {"wrong_return", "PodSuccessRate(%)", -1},
                            {"disk_io", "SyscallWrite", 1}};
  for (const auto& s : signals) {
    auto spec = spec_from({"duration=12h", "faults.types=[" + std::string(s.fault) + "]", "faults.mean_gap_s=600"});
    Telemetry t = simulate(spec);
    ASSERT_GE(t.faults.size(), 10u) << s.fault;
    double share = share_of_clear_shifts(t, s.kpi, s.direction);
    std::printf("fault %-14s %-24s shifted beyond 3 sd of the 10 min before in %5.1f%% of %zu events\n", s.fault,
                s.kpi, share * 100, t.faults.size());
    EXPECT_GE(share, 0.8) << s.fault << " moved " << s.kpi << " clearly in only " << share * 100 << "% of events";
  }
}

TEST(Simulator, PodKillSilencesThePodThenItRestarts) {
  auto spec = spec_from({"duration=6h", "faults.types=[pod_kill]", "faults.mean_gap_s=600"});
  Telemetry t = simulate(spec);
  ASSERT_GE(t.faults.size(), 5u);
  for (const auto& f : t.faults) {
    std::size_t first_minute = 0, later = 0;
    for (const auto& m : t.metrics) {
      if (m.component != f.root_cause) continue;
      first_minute += m.time_ns >= f.begin_ns && m.time_ns < f.begin_ns + 60'000'000'000LL;
      later += m.time_ns >= f.begin_ns + 60'000'000'000LL && m.time_ns < f.end_ns;
    }
    EXPECT_EQ(first_minute, 0u);
    EXPECT_GT(later, 0u);
  }
}

TEST(Simulator, NezhaLayoutPathEqualsTheDirectPath) {
  auto spec = spec_from({"duration=3h", "seed=11"});
  Telemetry direct = simulate(spec);
  test::TempDir dir;
  write_nezha(dir.path(), direct);
  IngestReport report;
  NezhaOptions options;
  options.path = dir.path();
  Telemetry read = read_nezha(options, report);
  EXPECT_EQ(report.malformed_rows(), 0u);
  EXPECT_EQ(read.metrics.size(), direct.metrics.size());
  EXPECT_EQ(read.spans.size(), direct.spans.size());
  EXPECT_EQ(read.logs.size(), direct.logs.size());
  ASSERT_EQ(read.faults.size(), direct.faults.size());
  for (std::size_t i = 0; i < read.faults.size(); ++i) {
    EXPECT_EQ(read.faults[i].begin_ns, direct.faults[i].begin_ns);
    EXPECT_EQ(read.faults[i].end_ns, direct.faults[i].end_ns);
    EXPECT_EQ(read.faults[i].type, direct.faults[i].type);
    EXPECT_EQ(read.components[static_cast<std::size_t>(read.faults[i].root_cause)].name,
              direct.components[static_cast<std::size_t>(direct.faults[i].root_cause)].name);
  }
  auto wd = make_windows(direct, {60'000'000'000, 30'000'000'000});
  auto wr = make_windows(read, {60'000'000'000, 30'000'000'000});
  ASSERT_EQ(wd.size(), wr.size());
  for (std::size_t i = 0; i < wd.size(); ++i) {
    EXPECT_EQ(wd[i].label, wr[i].label);
    EXPECT_EQ(direct.regime_names.at(static_cast<std::size_t>(wd[i].regime)),
              read.regime_names.at(static_cast<std::size_t>(wr[i].regime)));
    EXPECT_EQ(wd[i].metric_range, wr[i].metric_range);
  }
}

TEST(Simulator, BadSpecsAreConfigErrors) {
  EXPECT_THROW(spec_from({"faults.types=[meteor]"}), ConfigError);
  EXPECT_THROW(spec_from({"duration=-1"}), ConfigError);
  EXPECT_THROW(spec_from({"duration=abc"}), ConfigError);
  EXPECT_THROW(spec_from({"system.entry=nowhere"}), ConfigError);
  EXPECT_EQ(cli::parse_duration_s("90m", "d"), 5400.0);
  EXPECT_EQ(cli::parse_duration_s("2d", "d"), 172800.0);
}

namespace {

// Whitespace-separated words of a text.
std::set<std::string> words_of(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

}  // namespace

// No key across modalities: a word that two of a window's texts share must not be unique to that window in its
// store (a timestamp, an id, a random log parameter would be), or InfoNCE could match the texts by it.
TEST(Serializer, AWindowsTextsShareNoWordUniqueToTheWindow) {
  const fs::path tokenizer = fs::path(RSLICER_SOURCE_DIR) / "assets" / "qwen3" / "tokenizer.json";
  if (!fs::exists(tokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  auto spec = spec_from({"duration=90m", "seed=5", "faults.mean_gap_s=300", "faults.warmup_s=300"});
  Telemetry t = simulate(spec);
  const WindowingOptions windowing{60'000'000'000, 30'000'000'000};
  auto windows = make_windows(t, windowing);
  test::TempDir dir;
  write_window_store(dir / "sim.h5", t, windows, windowing);
  WindowStoreReader store(dir / "sim.h5");
  auto tok = Tokenizer::from_file(tokenizer);
  WindowSerializer serializer(store, tok, {4096});
  std::vector<std::array<std::set<std::string>, 3>> texts;
  std::map<std::string, std::set<std::size_t>> windows_of_word;
  for (std::size_t w = 0; w < store.windows().size(); ++w) {
    auto m = serializer.serialize(store.windows()[w], store.read_window(w));
    texts.push_back({words_of(m.metrics), words_of(m.traces), words_of(m.logs)});
    for (const auto& modality : texts.back())
      for (const auto& word : modality) windows_of_word[word].insert(w);
  }
  ASSERT_GE(texts.size(), 150u);
  std::size_t shared_words = 0;
  for (std::size_t w = 0; w < texts.size(); ++w)
    for (int a = 0; a < 3; ++a)
      for (int b = a + 1; b < 3; ++b)
        for (const auto& word : texts[w][static_cast<std::size_t>(a)]) {
          if (!texts[w][static_cast<std::size_t>(b)].count(word)) continue;
          ++shared_words;
          EXPECT_GT(windows_of_word[word].size(), 1u) << "window " << w << ": '" << word << "' is in modalities " << a
                                                      << " and " << b << " and in no other window";
        }
  EXPECT_GT(shared_words, 0u);  // service names are shared (and not unique): the check saw shared words
}
