// The sampler (global order, rank slices, epochs), the serializer (golden text) and the threaded loader against
// its single-threaded reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>
#include <chrono>

#include "core/error.h"
#include "data/fixture_telemetry.h"
#include "data/cpu_affinity.h"
#include "data/fault_pairs.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/serializer.h"
#include "data/serializer_record.h"
#include "data/windowing.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;
namespace fs = std::filesystem;

TEST(Sampler, EpochVisitsEachWindowOnceAndRanksSliceTheGlobalBatch) {
  ClusterSampler sampler({50, 30}, 4, 16, 7);
  EXPECT_EQ(sampler.batches_per_epoch(), 5u);
  auto order = sampler.epoch_order(0);
  ASSERT_EQ(order.size(), 80u);
  std::set<std::pair<std::uint32_t, std::uint32_t>> seen;
  for (const auto& r : order) EXPECT_TRUE(seen.insert({r.store, r.window}).second);
  // Clusters of 4 adjacent windows of one store stay together: 3 of every 4 neighbours are adjacent windows.
  std::size_t adjacent = 0;
  for (std::size_t i = 0; i + 1 < order.size(); ++i)
    adjacent += order[i].store == order[i + 1].store && order[i + 1].window == order[i].window + 1;
  EXPECT_GE(adjacent, 80u * 3 / 4 - 2);
  for (int world : {1, 2, 4}) {
    for (std::uint64_t step : {0u, 3u, 7u}) {
      std::vector<SampleRef> joined;
      for (int r = 0; r < world; ++r) {
        auto part = sampler.rank_batch_at(step, r, world);
        EXPECT_EQ(part.size(), 16u / static_cast<std::size_t>(world));
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, sampler.global_batch_at(step));
    }
  }
  EXPECT_NE(sampler.epoch_order(1), order);                  // a new permutation each epoch
  EXPECT_EQ(ClusterSampler({50, 30}, 4, 16, 7).epoch_order(0), order);  // deterministic for a seed
  EXPECT_THROW(sampler.rank_batch_at(0, 0, 3), ConfigError);
  EXPECT_THROW(ClusterSampler({10}, 4, 16, 0), ConfigError);
  // An uneven split (by the ranks' pace): rank r's slice has split[r] samples, after those of the ranks before it.
  const std::vector<std::int64_t> split = {7, 2, 6, 1};
  std::vector<SampleRef> joined;
  for (int r = 0; r < 4; ++r) {
    auto part = sampler.rank_batch_at(5, r, split);
    EXPECT_EQ(part.size(), static_cast<std::size_t>(split[static_cast<std::size_t>(r)]));
    joined.insert(joined.end(), part.begin(), part.end());
  }
  EXPECT_EQ(joined, sampler.global_batch_at(5));
  EXPECT_EQ(sampler.rank_batch_at(3, 1, std::vector<std::int64_t>{8, 8}), sampler.rank_batch_at(3, 1, 2));
  EXPECT_THROW(sampler.rank_batch_at(0, 0, std::vector<std::int64_t>{8, 7}), ConfigError);     // not the global batch
  EXPECT_THROW(sampler.rank_batch_at(0, 0, std::vector<std::int64_t>{16, 0}), ConfigError);    // a rank with none
}

namespace {

const fs::path kTokenizer = fs::path(RSLICER_SOURCE_DIR) / "assets" / "qwen3" / "tokenizer.json";

// `t` (the fixture telemetry unless given) as a store of 60 s windows every 30 s, in dir/<name>.
std::shared_ptr<const WindowStoreReader> fixture_store(const test::TempDir& dir, const Telemetry& t = test::fixture(),
                                                       const std::string& name = "f.h5") {
  write_window_store(dir / name, t, make_windows(t, {60 * test::S, 30 * test::S}), {60 * test::S, 30 * test::S});
  return std::make_shared<const WindowStoreReader>(dir / name);
}

}  // namespace

TEST(Serializer, GoldenTextsOfAFixtureWindow) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir);
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer serializer(*store, tok, {256});
  // Window 14 = [T0+420 s, T0+480 s): metrics of both pods, no spans, the two error logs.
  auto texts = serializer.serialize(store->windows()[14], store->read_window(14));
  EXPECT_EQ(texts.metrics,
            "metrics window 60s\n"
            "svc-a cpu 44.5 z +0.9\n"
            "svc-b cpu -44.5 z -0.9\n");
  EXPECT_EQ(texts.traces, "traces window 60s none\n");
  EXPECT_EQ(texts.logs, "logs window 60s\nERROR x2 svc-b: error <*> at <*> [E2,th\xc3\xa9re]\n");
  // Window 0: the entry spans of pod a.
  auto first = serializer.serialize(store->windows()[0], store->read_window(0));
  EXPECT_EQ(first.traces, "traces window 60s\nentry -> svc-a calls 6 p50 2000ms p95 2000ms err 0.0%\n");
  // Per component: pod b only.
  std::int32_t pod_b = -1;
  for (const auto& c : store->components())
    if (c.name == "svc-b-6f94c49ccd-bbbbb") pod_b = c.id;
  auto b_only = serializer.serialize_component(store->windows()[14], store->read_window(14), pod_b);
  // Per component the lines do not repeat the component's name (every line is its own).
  EXPECT_EQ(b_only.metrics, "metrics window 60s\ncpu -44.5 z -0.9\n");
  EXPECT_EQ(b_only.logs, "logs window 60s\nERROR x2 error <*> at <*> [E2,th\xc3\xa9re]\n");
  // The budget holds: lines are added while they fit (the header, then one line, then both, as the budget grows).
  for (std::size_t budget : {20u, 30u, 50u}) {
    WindowSerializer tight(*store, tok, {budget});
    auto small = tight.serialize(store->windows()[14], store->read_window(14));
    EXPECT_LE(tok.encode_for_embedding(small.metrics, 0).size(), budget);
    const auto lines = std::count(small.metrics.begin(), small.metrics.end(), '\n');
    EXPECT_EQ(lines, budget == 20u ? 1 : budget == 30u ? 2 : 3) << budget;
  }
}

// A metric series far from its baseline says so in a word before its value (serializer.level_z); one near it, or
// any with level_z 0 (the ablation), shows only its value and z. The baseline reads no labels: the spike, in under
// 5% of the samples, is left out of it by the central range, not by a fault label.
TEST(Serializer, ADeviatingSeriesSaysSoInAWord) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  for (auto& m : t.metrics)  // a spike at T0+440 s (windows 13 and 14): pod a far up, pod b far down
    if (m.time_ns == test::T0 + 440 * test::S) m.value = m.value > 0 ? 900 : -900;
  const auto kept = fixture_store(dir, t, "spike.h5");
  const WindowStoreReader& store = *kept;
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer words(store, tok, {256}), plain(store, tok, {256, false, true, 0.0});
  const auto spike = words.serialize(store.windows()[14], store.read_window(14)).metrics;
  EXPECT_NE(spike.find("svc-a cpu very high 187 z +"), std::string::npos) << spike;  // the window's mean
  EXPECT_NE(spike.find("svc-b cpu very low -187 z -"), std::string::npos) << spike;
  const auto calm = words.serialize(store.windows()[2], store.read_window(2)).metrics;
  EXPECT_EQ(calm.find("high"), std::string::npos) << calm;
  EXPECT_EQ(calm.find("low"), std::string::npos) << calm;
  const auto ablated = plain.serialize(store.windows()[14], store.read_window(14)).metrics;
  EXPECT_NE(ablated.find("svc-a cpu 187 z +"), std::string::npos) << ablated;
  EXPECT_EQ(ablated.find("high"), std::string::npos) << ablated;
}

// A series constant nearly always (a success rate of exactly 100%) that falls is the most deviating
// series there is: its spread is floored at 1% of its typical value, not 0 (which read as "no deviation", z 0).
TEST(Serializer, AConstantSeriesThatFallsIsVeryLow) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  const std::int32_t success = t.metric_names.intern("success"), a = t.component_id("svc-a-6f94c49ccd-aaaaa");
  for (std::int64_t k = 0; k < 60; ++k)  // 100% throughout but 50% at T0+440 s (windows 13 and 14)
    t.metrics.push_back({test::T0 + k * 10 * test::S, a, success, k == 44 ? 50.0f : 100.0f});
  t.sort_by_time();
  const auto kept = fixture_store(dir, t, "success.h5");
  const WindowStoreReader& store = *kept;
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer words(store, tok, {256});
  const auto fall = words.serialize(store.windows()[14], store.read_window(14)).metrics;
  EXPECT_EQ(fall.rfind("metrics window 60s\nsvc-a success very low\n", 0), 0u) << fall;
  EXPECT_NE(fall.find("svc-a success very low 91.7 z -8.3"), std::string::npos) << fall;  // (5 x 100 + 50) / 6
  const auto calm = words.serialize(store.windows()[2], store.read_window(2)).metrics;
  EXPECT_NE(calm.find("svc-a success 100 z +0.0"), std::string::npos) << calm;
}

// A pod that stops reporting for part of a window (killed, restarting) says "missing samples" before everything
// else, in the window's text and in its own: the mean of the samples it did report looks normal. A series reports
// every 10 s here (6 samples a window, its typical count); 3 of 6 is a gap, 4 of 6 (a scrape's jitter at both
// boundaries at worst) is not.
TEST(Serializer, ASeriesReportingFewerSamplesThanUsualSaysSoFirst) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  const std::int32_t success = t.metric_names.intern("success"), a = t.component_id("svc-a-6f94c49ccd-aaaaa");
  // Silent at T0+420..450 s (windows 13 and 14 lack 3 and 4 of 6 samples) and at 240..250 s (windows 7 and 8, 2).
  for (std::int64_t k = 0; k < 60; ++k)
    if ((k < 42 || k > 45) && k != 24 && k != 25) t.metrics.push_back({test::T0 + k * 10 * test::S, a, success, 100.0f});
  t.sort_by_time();
  const auto kept = fixture_store(dir, t, "gaps.h5");
  const WindowStoreReader& store = *kept;
  EXPECT_EQ(store.read_window(14).metrics.size() + 4, store.read_window(12).metrics.size());
  auto tok = Tokenizer::from_file(kTokenizer);
  SerializerOptions with, without;
  with.max_tokens = without.max_tokens = 256;
  with.sample_gaps = true;
  EXPECT_FALSE(without.sample_gaps);  // the default
  WindowSerializer gaps(store, tok, with), plain(store, tok, without);
  for (std::size_t w : {13u, 14u}) {
    const auto text = gaps.serialize(store.windows()[w], store.read_window(w)).metrics;
    EXPECT_EQ(text.rfind("metrics window 60s\nsvc-a missing samples\n", 0), 0u) << w << ": " << text;
    const auto own = gaps.serialize_component(store.windows()[w], store.read_window(w), a).metrics;
    EXPECT_EQ(own.rfind("metrics window 60s\nmissing samples\n", 0), 0u) << w << ": " << own;
    const auto ablated = plain.serialize(store.windows()[w], store.read_window(w)).metrics;
    EXPECT_EQ(ablated.find("missing"), std::string::npos) << ablated;
  }
  for (std::size_t w : {2u, 7u, 8u, 12u, 15u}) {  // all 6 samples; 5 of 6; 4 of 6
    const auto text = gaps.serialize(store.windows()[w], store.read_window(w)).metrics;
    EXPECT_EQ(text.find("missing"), std::string::npos) << w << ": " << text;
  }
}

// A load that moves every pod a little (below level_z and so without a word on any pod) shows as the
// system's move when system_kpis asks for it: the median z over the pods, first; a spike on one pod does not.
TEST(Serializer, TheSystemsMoveOnAKpiIsTheMedianOverItsPods) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  const std::int32_t rps = t.metric_names.intern("rps"), mem = t.metric_names.intern("mem");
  std::vector<std::int32_t> pods = {t.component_id("svc-a-6f94c49ccd-aaaaa"), t.component_id("svc-b-6f94c49ccd-bbbbb"),
                                    t.add_pod("svc-c-6f94c49ccd-ccccc", "node-1")};
  for (std::int64_t k = 0; k < 60; ++k) {
    const bool window_14 = k >= 42 && k < 48;  // [T0+420 s, T0+480 s)
    for (std::size_t p = 0; p < pods.size(); ++p) {
      // rps cycles 9, 10, 11 (a window's mean 10) and is 1.5 higher in window 14 on every pod; mem spikes on pod a
      // only there
      const auto base = static_cast<float>(9 + k % 3);
      t.metrics.push_back({test::T0 + k * 10 * test::S, pods[p], rps, window_14 ? base + 1.5f : base});
      t.metrics.push_back({test::T0 + k * 10 * test::S, pods[p], mem, window_14 && p == 0 ? 500.0f : base});
    }
  }
  t.sort_by_time();
  const auto kept = fixture_store(dir, t, "load.h5");
  const WindowStoreReader& store = *kept;
  auto tok = Tokenizer::from_file(kTokenizer);
  SerializerOptions with_system{256};
  with_system.system_kpis = 1;
  WindowSerializer system(store, tok, with_system), plain(store, tok, {256});
  const auto loaded = system.serialize(store.windows()[14], store.read_window(14)).metrics;
  EXPECT_EQ(loaded.rfind("metrics window 60s\nall rps z +", 0), 0u) << loaded;  // not mem: one pod's spike
  EXPECT_EQ(plain.serialize(store.windows()[14], store.read_window(14)).metrics.find("all "), std::string::npos);
  // One pod's text compares that pod with itself: no system line.
  const auto pod = system.serialize_component(store.windows()[14], store.read_window(14), pods[0]).metrics;
  EXPECT_EQ(pod.find("all "), std::string::npos) << pod;
  // The option is recorded with a release, and a difference is named.
  EXPECT_EQ(serializer_record(with_system)["system_kpis"], 1);
  EXPECT_EQ(serializer_differences(serializer_record(with_system), SerializerOptions{256}).size(), 1u);
}

// A trace edge far above its typical p95 (or error rate) over the store's windows with spans says so in a word,
// named first in a short line; with level_z 0 only its values show.
// With a tuning side, a metric's z is against its normal windows (mean and sd), and no label beyond it is read: a
// store whose later fault is unlabelled gives the same baseline. Too few normal windows, or all_windows, and the
// baseline is the label-free one of all windows.
TEST(MetricBaseline, ReadsTheLabelsOfTheTuningSideOnly) {
  test::TempDir dir;
  auto hour = [](bool label_later_fault) {
    Telemetry t;
    t.system = "fixture";
    t.source_format = "test";
    t.labels_known = true;
    const std::int32_t a = t.add_pod("svc-a-6f94c49ccd-aaaaa", "node-1");
    const std::int32_t cpu = t.metric_names.intern("cpu");
    const auto in = [](std::int64_t s, std::int64_t from) { return s >= from && s < from + 120; };
    for (std::int64_t k = 0; k < 360; ++k) {  // an hour, every 10 s: 10..15, and 100 in both faults' two minutes
      const std::int64_t at = k * 10;
      t.metrics.push_back({test::T0 + at * test::S, a, cpu, in(at, 600) || in(at, 3000) ? 100.0f : 10.0f + k % 6});
    }
    t.faults.push_back({test::T0 + 600 * test::S, test::T0 + 720 * test::S, 4, a, ComponentKind::pod});
    if (label_later_fault) t.faults.push_back({test::T0 + 3000 * test::S, test::T0 + 3120 * test::S, 4, a, ComponentKind::pod});
    t.sort_by_time();
    return t;
  };
  const auto labelled = fixture_store(dir, hour(true), "labelled.h5");
  const auto unlabelled_later = fixture_store(dir, hour(false), "unlabelled_later.h5");
  const std::size_t tuning = labelled->windows().size() / 2;  // the later fault is beyond it
  ASSERT_GT(labelled->windows()[tuning + 10].begin_ns, test::T0 + 720 * test::S);
  const auto b = MetricBaseline::for_store(*labelled, "tuning_normal", tuning);
  EXPECT_EQ(b.label_windows, tuning);
  ASSERT_EQ(b.stats.size(), 1u);
  const auto [mean, sd] = b.stats.begin()->second;
  EXPECT_NEAR(mean, 12.5, 0.3);  // the normal windows' 10..15: the fault's 100s left out by its label
  EXPECT_NEAR(sd, 1.71, 0.1);
  EXPECT_EQ(MetricBaseline::for_store(*unlabelled_later, "tuning_normal", tuning).stats, b.stats);
  const auto label_free = MetricBaseline::from_store(*labelled);
  EXPECT_EQ(label_free.label_windows, 0u);
  for (const auto& other : {MetricBaseline::for_store(*labelled, "all_windows", tuning),
                            MetricBaseline::for_store(*labelled, "tuning_normal", 10),  // under 20 normal windows
                            MetricBaseline::for_store(*labelled, "tuning_normal", 0)}) {
    EXPECT_EQ(other.label_windows, 0u);
    EXPECT_EQ(other.stats, label_free.stats);
  }
  EXPECT_THROW(MetricBaseline::for_store(*labelled, "labels", tuning), ConfigError);
}

TEST(Serializer, ASlowOrErroringEdgeSaysSoInAWord) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  for (auto& x : t.spans)  // entry -> svc-a: 2 s each; ten times slower and failing in [T0+150 s, T0+210 s)
    if (x.start_ns >= test::T0 + 150 * test::S && x.start_ns < test::T0 + 210 * test::S) {
      x.duration_ns *= 10;
      x.status = 500;
    }
  const auto kept = fixture_store(dir, t, "slow.h5");
  const WindowStoreReader& store = *kept;
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer words(store, tok, {256}), plain(store, tok, {256, false, true, 0.0});
  const auto slow = words.serialize(store.windows()[5], store.read_window(5)).traces;  // [T0+150 s, T0+210 s)
  EXPECT_EQ(slow.rfind("traces window 60s\nentry -> svc-a very slow erroring\nentry -> svc-a very slow erroring calls", 0), 0u) << slow;
  const auto usual = words.serialize(store.windows()[0], store.read_window(0)).traces;
  EXPECT_EQ(usual, "traces window 60s\nentry -> svc-a calls 6 p50 2000ms p95 2000ms err 0.0%\n");
  const auto ablated = plain.serialize(store.windows()[5], store.read_window(5)).traces;
  EXPECT_EQ(ablated.find("slow"), std::string::npos) << ablated;
  EXPECT_EQ(ablated.find("erroring"), std::string::npos) << ablated;
}

// What a release records of its serializer, and the one line per option an embedding run sets otherwise.
TEST(Serializer, ARecordNamesTheOptionsEmbeddingSetsOtherwise) {
  SerializerOptions pretrained;
  pretrained.caller_wait = true;
  pretrained.level_z = 3.0;
  const nlohmann::json record = serializer_record(pretrained);
  EXPECT_EQ(record.at("caller_wait"), true);
  EXPECT_FALSE(record.contains("max_tokens"));  // each stage has its own budget
  EXPECT_TRUE(serializer_differences(record, pretrained).empty());
  SerializerOptions embedding = pretrained;
  embedding.max_tokens = 64;  // not compared
  EXPECT_TRUE(serializer_differences(record, embedding).empty());
  embedding.caller_wait = false;
  const auto differences = serializer_differences(record, embedding);
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0], "caller_wait: true in pre-training, false here");
  embedding.level_z = 2.0;
  EXPECT_EQ(serializer_differences(record, embedding).size(), 2u);
  // A record without an option (a release written before it) does not compare it; nor does no record at all.
  nlohmann::json older = record;
  older.erase("caller_wait");
  older.erase("level_z");
  EXPECT_TRUE(serializer_differences(older, embedding).empty());
  EXPECT_TRUE(serializer_differences(nlohmann::json(), embedding).empty());
}

// A network delay on a callee: its own spans keep their length, the caller's client span grows. With caller_wait the
// edge shows the caller's wait beyond the callee's span, and says "delayed" (not "slow") where the wait is far above
// its typical value; without (the default) neither shows; a caller span with two children (a server span, not a
// client span) gives no wait.
TEST(Serializer, ADelayedCallShowsAsTheCallersWait) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  Telemetry t = test::fixture();
  const std::int32_t b = t.component_id("svc-b-6f94c49ccd-bbbbb");
  std::vector<Span> children;
  std::uint64_t id = 100;
  for (auto& x : t.spans) {  // every svc-a span (2 s) is a client span of one svc-b call (0.5 s): a wait of 1.5 s
    x.span_id = id++;
    children.push_back({x.trace_id, x.span_id + 5000, x.span_id, x.start_ns + test::S / 4, test::S / 2, b, x.operation, 0});
    if (x.start_ns >= test::T0 + 150 * test::S && x.start_ns < test::T0 + 210 * test::S) x.duration_ns *= 10;
  }
  t.spans.insert(t.spans.end(), children.begin(), children.end());
  t.sort_by_time();
  const auto kept = fixture_store(dir, t, "delayed.h5");
  const WindowStoreReader& store = *kept;
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer words(store, tok, {256, false, true, 2.0, true}), without(store, tok, {256});
  const auto usual = words.serialize(store.windows()[0], store.read_window(0)).traces;
  EXPECT_NE(usual.find("svc-a -> svc-b calls 6 p50 500ms p95 500ms wait 1500ms err 0.0%"), std::string::npos) << usual;
  EXPECT_EQ(usual.find("delayed"), std::string::npos) << usual;
  const auto delayed = words.serialize(store.windows()[5], store.read_window(5)).traces;  // [T0+150 s, T0+210 s)
  EXPECT_NE(delayed.find("\nsvc-a -> svc-b delayed\n"), std::string::npos) << delayed;
  EXPECT_NE(delayed.find("svc-a -> svc-b delayed calls 6 p50 500ms p95 500ms wait"), std::string::npos) << delayed;
  const auto off = without.serialize(store.windows()[5], store.read_window(5)).traces;  // the option's default
  EXPECT_EQ(off.find("wait"), std::string::npos) << off;
  EXPECT_EQ(off.find("delayed"), std::string::npos) << off;

  // The same calls from a server span that also calls svc-a itself: two children, no client span, no wait.
  Telemetry two = t;
  for (const auto& x : t.spans)
    if (x.component != b) two.spans.push_back({x.trace_id, x.span_id + 9000, x.span_id, x.start_ns, 1000, x.component, x.operation, 0});
  two.sort_by_time();
  const auto server = fixture_store(dir, two, "server.h5");
  const auto plain = WindowSerializer(*server, tok, {256, false, true, 2.0, true}).serialize(server->windows()[5], server->read_window(5)).traces;
  EXPECT_EQ(plain.find("wait"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("delayed"), std::string::npos) << plain;
}

// The call graph FL reads: the service edges of the store's traces, caller -> callee, without the entry.
TEST(EdgeBaseline, CallsAreTheServiceEdgesOfTheTraces) {
  test::TempDir dir;
  Telemetry t = test::fixture();
  const std::int32_t a = t.component_id("svc-a-6f94c49ccd-aaaaa"), b = t.component_id("svc-b-6f94c49ccd-bbbbb");
  std::vector<Span> children;
  for (const auto& x : t.spans)  // every svc-a span calls svc-b
    children.push_back({x.trace_id, x.span_id + 5000, x.span_id, x.start_ns + test::S, test::S / 2, b, x.operation, 0});
  t.spans.insert(t.spans.end(), children.begin(), children.end());
  t.sort_by_time();
  const auto kept = fixture_store(dir, t, "calls.h5");
  const WindowStoreReader& store = *kept;
  const auto service = [&](std::int32_t pod) { return store.components().at(static_cast<std::size_t>(pod)).service; };
  const auto calls = EdgeBaseline::from_store(store).calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_pair(service(a), service(b)));
  EXPECT_TRUE(EdgeBaseline::from_store(*fixture_store(dir, test::fixture(), "entry_only.h5")).calls().empty());
}

// Two windows with the same events at different times serialize to the same texts (no clock to match by), and
// log parameters that identify an event (ids, numbers, clock times) are masked while words and status codes stay.
TEST(Serializer, SameEventsAtAnotherTimeGiveTheSameTexts) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir);
  Telemetry later = test::fixture();
  const std::int64_t shift = 86'400 * test::S + 7 * 30 * test::S;  // a day and 7 strides later
  for (auto& m : later.metrics) m.time_ns += shift;
  for (auto& x : later.spans) x.start_ns += shift;
  for (auto& l : later.logs) l.time_ns += shift;
  for (auto& f : later.faults) {
    f.begin_ns += shift;
    f.end_ns += shift;
  }
  std::int32_t tmpl = later.log_templates.intern("order <*> of user <*> failed with <*> after <*> ms trace <*>");
  const std::int32_t b = later.logs.front().component;
  later.logs.push_back({later.logs.front().time_ns, b, LogLevel::warn, tmpl,
                        std::string("ord-20231114-99812\x1f" "42\x1f" "HTTP\x1f" "503\x1f" "1234\x1f" "4bf92f3577b34da6\x1f"
                                    "22:01:38.359\x1f" "17:38\x1f" "ts-user-service:web")});
  later.sort_by_time();
  auto windows = make_windows(later, {60 * test::S, 30 * test::S});
  write_window_store(dir / "later.h5", later, windows, {60 * test::S, 30 * test::S});
  WindowStoreReader shifted(dir / "later.h5");
  auto tok = Tokenizer::from_file(kTokenizer);
  WindowSerializer a(*store, tok, {256}), c(shifted, tok, {256});
  ASSERT_EQ(store->windows().size(), shifted.windows().size());
  for (std::size_t w : {0u, 5u, 10u}) {
    auto x = a.serialize(store->windows()[w], store->read_window(w));
    auto y = c.serialize(shifted.windows()[w], shifted.read_window(w));
    EXPECT_EQ(x.metrics, y.metrics) << w;
    EXPECT_EQ(x.traces, y.traces) << w;
    EXPECT_EQ(x.logs, y.logs) << w;
  }
  auto logs = c.serialize(shifted.windows()[14], shifted.read_window(14)).logs;
  EXPECT_NE(logs.find("[<*>,<*>,HTTP,503,<*>,<*>,<*>,<*>,ts-user-service:web]"), std::string::npos) << logs;
}

// Rank 1 of 2, batches of 4 (2 a rank), 3 workers 3 batches ahead.
static LoaderOptions rank1_of_2_options() {
  LoaderOptions options;
  options.global_batch = 4;
  options.cluster_size = 2;
  options.workers = 3;
  options.prefetch = 3;
  options.rank = 1;
  options.world = 2;
  return options;
}

TEST(Loader, ThreadedBatchesEqualTheReferenceInStepOrderAndResume) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  LoaderOptions options = rank1_of_2_options();
  WindowLoader loader({store}, tok, options);
  std::vector<Batch> seen;
  for (int i = 0; i < 12; ++i) seen.push_back(loader.next());  // 12 steps: more than one epoch (5 per epoch)
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].step, i);
    Batch ref = loader.build(i);
    EXPECT_EQ(seen[i].samples, ref.samples);
    EXPECT_EQ(seen[i].metrics.ids, ref.metrics.ids);
    EXPECT_EQ(seen[i].logs.mask, ref.logs.mask);
    EXPECT_EQ(seen[i].samples.size(), 2u);
    EXPECT_EQ(seen[i].metrics.batch, 2);
    EXPECT_GT(seen[i].tokens(), 0u);
  }
  WindowLoader resumed({store}, tok, options, 7);
  EXPECT_EQ(resumed.next().samples, seen[7].samples);
  EXPECT_EQ(resumed.next_step(), 8u);
  options.world = 3;
  EXPECT_THROW(WindowLoader({store}, tok, options), ConfigError);
}

// Two stores that recorded the same hours: in a batch, a window overlaps windows of its own store only (else the
// temporal loss would pair them and InfoNCE would drop them as negatives), and within a store the times keep their
// differences.
TEST(Loader, StoresOfTheSameHoursNeverOverlapInABatch) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto a = fixture_store(dir, test::fixture(), "a.h5"), b = fixture_store(dir, test::fixture(), "b.h5");
  ASSERT_EQ(a->windows().front().begin_ns, b->windows().front().begin_ns);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  LoaderOptions options;
  options.global_batch = 8;
  options.cluster_size = 4;
  options.workers = 1;
  WindowLoader loader({a, b}, tok, options);
  EXPECT_EQ(loader.time_offsets().front(), -a->windows().front().begin_ns) << "the first store starts at 0";
  std::size_t mixed = 0, same_store_overlaps = 0;
  for (std::uint64_t step = 0; step < 12; ++step) {
    const Batch batch = loader.build(step);
    for (std::size_t i = 0; i < batch.samples.size(); ++i)
      for (std::size_t j = 0; j < batch.samples.size(); ++j) {
        const SampleRef &x = batch.samples[i], &y = batch.samples[j];
        const bool overlap = batch.begin_ns[i] < batch.end_ns[j] && batch.begin_ns[j] < batch.end_ns[i];
        const auto& wx = (x.store == 0 ? a : b)->windows().at(x.window);
        const auto& wy = (y.store == 0 ? a : b)->windows().at(y.window);
        if (x.store != y.store) {
          ++mixed;
          EXPECT_FALSE(overlap) << "step " << step << ": windows " << x.window << " and " << y.window;
        } else {
          EXPECT_EQ(batch.begin_ns[i] - batch.begin_ns[j], wx.begin_ns - wy.begin_ns);
          same_store_overlaps += i != j && overlap;
        }
      }
  }
  EXPECT_GT(mixed, 0u) << "batches held both stores";
  EXPECT_GT(same_store_overlaps, 0u) << "adjacent windows of a store still overlap";
}

// Rank 1 of 2, a global batch of 6 (splits 3/3, 4/2, 1/5), 2 steps prefetched.
static LoaderOptions uneven_split_options() {
  LoaderOptions options = rank1_of_2_options();
  options.global_batch = 6;
  options.workers = 2;
  options.prefetch = 2;
  return options;
}

// A split set from a step on reaches the batches of that step and later ones (built by the workers as by the
// reference path), and a step whose batch may be built already is refused.
TEST(Loader, UnevenSplitFromAStepOn) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  const LoaderOptions options = uneven_split_options();
  WindowLoader loader({store}, tok, options);
  loader.set_split_from(2, {4, 2});
  EXPECT_THROW(loader.set_split_from(1, {4, 2}), Error);  // step 1 may be built already (prefetch 2)
  EXPECT_THROW(loader.set_split_from(3, {4, 3}), ConfigError);
  std::vector<Batch> seen;
  for (int i = 0; i < 3; ++i) seen.push_back(loader.next());
  loader.set_split_from(5, {1, 5});
  for (int i = 0; i < 3; ++i) seen.push_back(loader.next());
  const std::vector<std::vector<std::int64_t>> expected = {{3, 3}, {3, 3}, {4, 2}, {4, 2}, {4, 2}, {1, 5}};
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].rank_windows, expected[i]) << "step " << i;
    EXPECT_EQ(seen[i].samples.size(), static_cast<std::size_t>(expected[i][1])) << "step " << i;
    EXPECT_EQ(seen[i].metrics.batch, expected[i][1]) << "step " << i;
    EXPECT_EQ(seen[i].samples, loader.sampler().rank_batch_at(i, 1, expected[i])) << "step " << i;
    EXPECT_EQ(seen[i].metrics.ids, loader.build(i).metrics.ids) << "step " << i;
  }
}

// What a checkpoint keeps of a loader (state(): the next step, and the split in force there with the changes set
// after it) gives a loader started there the same batches as the one that went on.
TEST(Loader, SplitScheduleResumesWhereItWas) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  const LoaderOptions options = uneven_split_options();
  WindowLoader straight({store}, tok, options);
  EXPECT_TRUE(straight.splits_from(0).empty());  // never set: equal parts, nothing to keep
  straight.set_split_from(2, {4, 2});
  for (int i = 0; i < 3; ++i) straight.next();
  straight.set_split_from(5, {1, 5});  // pending at step 3: set, not reached
  const LoaderState kept = straight.state();
  const std::map<std::uint64_t, std::vector<std::int64_t>> expected_kept{{3, {4, 2}}, {5, {1, 5}}};
  EXPECT_EQ(kept.next_step, 3u);
  EXPECT_EQ(kept.splits, expected_kept);

  LoaderOptions resumed_options = options;
  resumed_options.splits = kept.splits;
  WindowLoader resumed({store}, tok, resumed_options, kept.next_step);
  for (int i = 0; i < 3; ++i) {
    const Batch a = straight.next(), b = resumed.next();
    EXPECT_EQ(a.rank_windows, b.rank_windows) << "step " << a.step;
    EXPECT_EQ(a.samples, b.samples) << "step " << a.step;
    EXPECT_EQ(a.metrics.ids, b.metrics.ids) << "step " << a.step;
  }
  resumed_options.splits = {{0, {4, 3}}};  // 7 windows: not this global batch's split
  EXPECT_THROW(WindowLoader({store}, tok, resumed_options), ConfigError);
}

TEST(CpuAffinity, AutoRuleGivesEachRankItsSliceBeyondItsComputeThreads) {
  const std::vector<int> node{0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(plan_worker_cpus(node, 0, 2, 1), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(plan_worker_cpus(node, 1, 2, 1), (std::vector<int>{5, 6, 7}));
  EXPECT_EQ(plan_worker_cpus(node, 1, 2, 2), (std::vector<int>{6, 7}));
  EXPECT_TRUE(plan_worker_cpus(node, 0, 4, 2).empty());  // 2 CPUs a rank, both computing: nothing to spare
  EXPECT_TRUE(plan_worker_cpus({0, 1}, 0, 2, 1).empty());
  EXPECT_EQ(plan_worker_cpus({4, 9, 12}, 0, 1, 1), (std::vector<int>{9, 12}));  // a bound rank's own set
  EXPECT_TRUE(plan_worker_cpus(node, 2, 2, 1).empty());                         // bad local rank
}

TEST(Loader, WorkersRunOnTheirCpus) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const auto allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs 2 CPUs to tell a pinned thread from the others";
  test::TempDir dir;
  auto store = fixture_store(dir);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  LoaderOptions options;
  options.global_batch = 2;
  options.cluster_size = 2;
  options.workers = 2;
  options.worker_cpus = {allowed.back()};
  WindowLoader loader({store}, tok, options);
  loader.next();
  // Threads of this process whose allowed CPUs are exactly the worker CPU (Linux: /proc/self/task/*/status). A
  // worker pins itself when it starts, which may come after the first batch: poll for a while.
  auto count_pinned = [&] {
    int n = 0;
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
      std::ifstream status(task.path() / "status");
      for (std::string line; std::getline(status, line);)
        if (line.rfind("Cpus_allowed_list:", 0) == 0 && line.substr(line.find_last_of(" \t") + 1) == std::to_string(allowed.back()))
          ++n;
    }
    return n;
  };
  int pinned = count_pinned();
  for (int i = 0; i < 100 && pinned < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pinned = count_pinned();
  }
  EXPECT_EQ(pinned, 2);
  EXPECT_EQ(allowed_cpus(), allowed);  // the calling thread is not pinned
}

namespace {

// The fixture with both of its faults of one type (two events of type 4) and a third event of another type.
Telemetry two_events_of_one_type() {
  Telemetry t = test::fixture();
  t.faults[1].type = 4;
  t.faults.push_back({test::T0 + 480 * test::S, test::T0 + 540 * test::S, 2, t.faults[0].root_cause, ComponentKind::pod});
  return t;
}

}  // namespace

// Each pair at the end of a global batch is two abnormal windows of two events of one fault type, shown as their
// root cause; types with one event give none; the draw depends on the seed and step only.
TEST(FaultPairs, EachPairIsTwoEventsOfOneTypeShownAsTheirRootCause) {
  test::TempDir dir;
  auto store = fixture_store(dir, two_events_of_one_type(), "pairs.h5");
  const std::size_t windows = store->windows().size();
  FaultPairSampler pairs({store}, {windows}, 2, 16, 5);
  ASSERT_EQ(pairs.pairs(), 2u);
  EXPECT_EQ(pairs.types_with_pairs(), 1u);  // type 2 has one event
  std::set<std::uint32_t> drawn;
  for (std::uint64_t step = 0; step < 20; ++step) {
    std::vector<SampleRef> batch(16, SampleRef{0, 0});
    pairs.replace_tail(step, batch);
    for (std::size_t i = 0; i < 12; ++i) EXPECT_FALSE(batch[i].root_view) << "the clusters' part is kept";
    for (std::size_t p = 12; p < 16; p += 2) {
      const Window& a = store->windows().at(batch[p].window);
      const Window& b = store->windows().at(batch[p + 1].window);
      EXPECT_TRUE(batch[p].root_view && batch[p + 1].root_view);
      EXPECT_EQ(a.label, 1);
      EXPECT_EQ(b.label, 1);
      ASSERT_GE(a.fault, 0);
      ASSERT_GE(b.fault, 0);
      EXPECT_NE(a.fault, b.fault) << "two events";
      EXPECT_EQ(store->faults()[static_cast<std::size_t>(a.fault)].type, 4);
      EXPECT_EQ(store->faults()[static_cast<std::size_t>(b.fault)].type, 4);
      drawn.insert(batch[p].window);
    }
    std::vector<SampleRef> again(16, SampleRef{0, 0});
    FaultPairSampler(std::vector<std::shared_ptr<const WindowStoreReader>>{store}, {windows}, 2, 16, 5).replace_tail(step, again);
    EXPECT_EQ(again, batch);
  }
  EXPECT_GT(drawn.size(), 1u) << "the windows vary with the step";
  // Only the training prefix counts: without the second event's windows no type has two events.
  std::size_t before_second = 0;
  while (store->windows()[before_second].end_ns <= store->faults()[1].begin_ns) ++before_second;
  EXPECT_EQ(FaultPairSampler({store}, {before_second}, 2, 16, 5).pairs(), 0u);
  EXPECT_THROW(FaultPairSampler({store}, {windows}, 8, 16, 5), ConfigError);  // no room left for the clusters
}

// The loader shows the pairs as root-cause pod views labelled abnormal with their fault type, on the last rank's
// slice, with times of their own.
TEST(Loader, FaultPairsAreRootCauseViewsOfKnownType) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  test::TempDir dir;
  auto store = fixture_store(dir, two_events_of_one_type(), "pairs.h5");
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(kTokenizer));
  LoaderOptions options = rank1_of_2_options();
  options.fault_pairs = 1;
  WindowLoader loader({store}, tok, options);
  const WindowSerializer serializer(*store, *tok, options.serializer);
  for (std::uint64_t step = 0; step < 3; ++step) {
    const Batch b = loader.build(step);
    ASSERT_EQ(b.samples.size(), 2u);
    std::vector<std::string> views;
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_TRUE(b.samples[i].root_view);
      EXPECT_EQ(b.labels[i], 1);
      EXPECT_EQ(b.fault_types[i], 4);
      EXPECT_LT(b.begin_ns[i], 0) << "a view's own time";
      const Window& w = store->windows().at(b.samples[i].window);
      const auto root = store->faults().at(static_cast<std::size_t>(w.fault)).root_cause;
      views.push_back(serializer.serialize_component(w, store->read_window(b.samples[i].window), root).metrics);
    }
    EXPECT_EQ(b.metrics.ids, tok->encode_batch(views, options.serializer.max_tokens).ids) << "each is its root cause's view";
  }
}
