// Exact window labels on hand-made telemetry, and the HDF5 store: round trip, window reads, refusals.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/h5.h"
#include "data/window_store.h"
#include "data/windowing.h"
#include "data/fixture_telemetry.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;

using test::fixture;
using test::S;
using test::T0;


TEST(Windowing, RangesMasksAndLabelsExactly) {
  Telemetry t = fixture();
  auto windows = make_windows(t, {60 * S, 30 * S});
  // T0 is a multiple of 30 s, so windows start at T0, T0+30s, ... up to the last metric at T0+590s.
  ASSERT_EQ(windows.size(), 20u);
  EXPECT_EQ(windows[0].begin_ns, T0);
  EXPECT_EQ(windows[0].end_ns, T0 + 60 * S);
  EXPECT_EQ(windows[0].metric_range, (std::array<std::int64_t, 2>{0, 12}));  // 6 times x 2 pods
  EXPECT_EQ(windows[0].span_range, (std::array<std::int64_t, 2>{0, 6}));
  EXPECT_EQ(windows[0].modality_mask, kMetricBit | kTraceBit);
  EXPECT_EQ(windows[14].modality_mask, kMetricBit | kLogBit);  // [420 s, 480 s): logs, no spans
  EXPECT_EQ(windows[19].modality_mask, kMetricBit);
  // Labels: [0,60) and [30,90) normal; [60,120) overlaps fault 1 by 20 s; [120,180): fault 1 by 40 s,
  // fault 2 by 30 s -> fault 1; [150,210): fault 1 by 10 s, fault 2 by 60 s -> fault 2; [390,450): fault 2 by 10 s;
  // [420,480) normal again.
  EXPECT_EQ(windows[0].label, 0);
  EXPECT_EQ(windows[1].label, 0);
  EXPECT_EQ(windows[2].label, 1);
  EXPECT_EQ(windows[2].fault, 0);
  EXPECT_EQ(windows[4].fault, 0);
  EXPECT_EQ(windows[5].fault, 1);
  EXPECT_EQ(windows[13].label, 1);
  EXPECT_EQ(windows[13].fault, 1);
  EXPECT_EQ(windows[14].label, 0);
  EXPECT_EQ(windows[14].fault, -1);
  EXPECT_DOUBLE_EQ(overlap_ratio(windows[0], windows[1]), 0.5);
  EXPECT_DOUBLE_EQ(overlap_ratio(windows[0], windows[2]), 0.0);
}

TEST(Windowing, UnknownLabelsGapsAndBadOptions) {
  Telemetry t = fixture();
  t.labels_known = false;
  t.faults.clear();
  // A second burst of metrics a day later: the empty day in between makes no windows.
  std::int32_t cpu = t.metric_names.find("cpu");
  t.metrics.push_back({T0 + 86400 * S, 0, cpu, 1.0f});
  auto windows = make_windows(t, {60 * S, 30 * S});
  EXPECT_EQ(windows.size(), 22u);
  for (const auto& w : windows) EXPECT_EQ(w.label, -1);
  EXPECT_EQ(windows.back().begin_ns, T0 + 86400 * S);
  EXPECT_THROW(make_windows(t, {0, 30 * S}), ConfigError);
}

TEST(WindowStore, RoundTripAndWindowReads) {
  test::TempDir dir;
  Telemetry t = fixture();
  auto windows = make_windows(t, {60 * S, 30 * S});
  write_window_store(dir / "s.h5", t, windows, {60 * S, 30 * S});
  EXPECT_FALSE(std::filesystem::exists(dir / "s.h5.tmp"));
  WindowStoreReader store(dir / "s.h5");
  EXPECT_EQ(store.meta().system, "fixture");
  EXPECT_EQ(store.meta().window_length_ns, 60 * S);
  EXPECT_EQ(store.meta().t_begin_ns, T0);
  ASSERT_EQ(store.windows().size(), windows.size());
  for (std::size_t i = 0; i < windows.size(); ++i) {
    EXPECT_EQ(store.windows()[i].metric_range, windows[i].metric_range);
    EXPECT_EQ(store.windows()[i].label, windows[i].label);
    EXPECT_EQ(store.windows()[i].fault, windows[i].fault);
  }
  ASSERT_EQ(store.components().size(), t.components.size());
  EXPECT_EQ(store.components()[0].name, t.components[0].name);
  EXPECT_EQ(store.components()[0].service, t.components[0].service);
  EXPECT_EQ(store.faults().size(), 2u);
  EXPECT_EQ(store.faults()[1].root_cause, t.faults[1].root_cause);

  Telemetry back = store.read_all();
  ASSERT_EQ(back.metrics.size(), t.metrics.size());
  for (std::size_t i = 0; i < t.metrics.size(); ++i) {
    EXPECT_EQ(back.metrics[i].time_ns, t.metrics[i].time_ns);
    EXPECT_EQ(back.metrics[i].value, t.metrics[i].value);
  }
  ASSERT_EQ(back.logs.size(), 2u);
  EXPECT_EQ(back.logs[1].params, t.logs[1].params);
  EXPECT_EQ(back.spans[3].trace_id, t.spans[3].trace_id);
  EXPECT_EQ(back.log_templates.names(), t.log_templates.names());

  WindowData w14 = store.read_window(14);
  EXPECT_EQ(w14.metrics.size(), 12u);
  EXPECT_TRUE(w14.spans.empty());
  ASSERT_EQ(w14.logs.size(), 2u);
  EXPECT_EQ(w14.logs[0].params, "E1\x1fhere");
  EXPECT_EQ(w14.metrics.front().time_ns, T0 + 420 * S);
  EXPECT_THROW(store.read_window(999), Error);
}

TEST(WindowStore, RefusesOtherSchemaVersionsAndNonStores) {
  test::TempDir dir;
  {
    auto file = h5::create_file((dir / "v2.h5").string());
    h5::write_attr(file.get(), "schema_version", std::int64_t{2});
  }
  try {
    WindowStoreReader store(dir / "v2.h5");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("schema version 2 is not supported"), std::string::npos) << e.one_line();
    EXPECT_NE(e.one_line().find("re-ingest"), std::string::npos);
  }
  test::write_text(dir / "text.h5", "not hdf5");
  try {
    WindowStoreReader store(dir / "text.h5");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("not an HDF5 file"), std::string::npos) << e.one_line();
  }
  EXPECT_THROW(WindowStoreReader(dir / "missing.h5"), Error);
}

TEST(WindowStore, FailedWriteLeavesNoFileAndKeepsWhatWasThere) {
  test::TempDir dir;
  Telemetry t = fixture();
  auto windows = make_windows(t, {60 * S, 30 * S});
  // The target is a non-empty directory: the final rename fails after the temporary was written.
  test::write_text(dir / "s.h5" / "keep.txt", "precious");
  EXPECT_THROW(write_window_store(dir / "s.h5", t, windows, {60 * S, 30 * S}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "s.h5.tmp"));
  EXPECT_TRUE(std::filesystem::exists(dir / "s.h5" / "keep.txt"));
  // The temporary's own path is unusable (a directory): HDF5 cannot create it.
  std::filesystem::create_directories(dir / "t.h5.tmp" / "x");
  EXPECT_THROW(write_window_store(dir / "t.h5", t, windows, {60 * S, 30 * S}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "t.h5"));
}
