// The Nezha reader on a hand-made fixture (every quirk and kind of bad row) and on the real archives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "data/nezha_reader.h"
#include "data/windowing.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;

namespace {

const char* kMetricHeader =
    "Time,TimeStamp,PodName,CpuUsage(m),PodServerLatencyP90(s)\n";

void make_fixture(const std::filesystem::path& d) {
  test::write_text(d / "metric" / "adservice-5f6585d649-fnmft_metric.csv",
                   std::string(kMetricHeader) +
                       // TimeStamp off by ~2e8 s (the real adservice quirk): corrected from Time
                       "2022-08-22 03:51:19.607158889 +0000 UTC m=+0.11,1861140279,adservice-5f6585d649-fnmft,1.5,0.01\n"
                       "2022-08-22 03:52:19.607158889 +0000 UTC m=+60.1,1661140339,adservice-5f6585d649-fnmft,2.5,NaN\n"
                       "2022-08-22 03:53:19.6 +0000 UTC m=+120.1,1661140399,adservice-5f6585d649-fnmft,3.5\n"  // short
                       "2022-08-22 03:54:19.6 +0000 UTC m=+180.1,1661140459,adservice-5f6585d649-fnmft,inf,0.02\n");
  test::write_text(d / "metric" / "frontend-579b9bff58-t2dbm_metric.csv",
                   std::string(kMetricHeader) +
                       "2022-08-22 03:51:20 +0000 UTC,1661140280,frontend-579b9bff58-t2dbm,10,0.2\n"
                       "2022-08-22 03:51:20 +0000 UTC,1661140280,frontend-579b9bff58-t2dbm,10,0.2\n");  // duplicate
  test::write_text(d / "metric" / "front_service.csv",
                   "Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP90(s)\n"
                   "2022-08-22 03:51:20 +0000 UTC,1661140280,Frontend,99.5,0.3\n");
  test::write_text(d / "trace" / "03_51_trace.csv",
                   "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
                   "aa00265193e2a75bdbb109b5a286b3a3,dd8e061dd1813199,root,frontend-579b9bff58-t2dbm,GET /,"
                   "1661140281000000000,1661140281383364930,383364\n"
                   "aa00265193e2a75bdbb109b5a286b3a3,4c5ac49c546e61ca,dd8e061dd1813199,adservice-5f6585d649-fnmft,"
                   "\"hipstershop.AdService/GetAds\",1661140281100000000,1661140281200000000,100000\n"
                   "zz,4c5ac49c546e61cb,root,adservice-5f6585d649-fnmft,x,1661140281100000000,1661140281200000000,1\n");
  test::write_text(d / "log" / "03_51_log.csv",
                   "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log\n"
                   "2022-08-22T03:51:22.5Z,1661140282500000000,10.0.0.1,adservice-5f6585d649-fnmft,server,,,"
                   "\"{\"\"log\"\":\"\"INFO AdService served 3 ads\\n\"\",\"\"stream\"\":\"\"stdout\"\"}\"\n"
                   "2022-08-22T03:51:23.5Z,-6795364578871345152,10.0.0.1,adservice-5f6585d649-fnmft,server,,,"
                   "\"{\"\"log\"\":\"\"INFO AdService served 5 ads\\n\"\"}\"\n"
                   "2022-08-22T03:51:24Z,1661140284000000000,10.0.0.2,frontend-579b9bff58-t2dbm,server,,,"
                   "\"{not json\"\n");
  test::write_text(d / "2022-08-22-fault_list.json",
                   R"({"3": [{"inject_time": "2022-08-22 03:52:00", "inject_timestamp": "1661140320",
                               "inject_pod": "adservice-5f6585d649-fnmft", "inject_type": "cpu_contention"},
                              {"inject_time": "2022-08-22 03:58:00", "inject_timestamp": "1661140680",
                               "inject_pod": "adservice-5f6585d649-fnmft", "inject_type": "alien_invasion"}]})");
}

}  // namespace

TEST(NezhaReader, FixtureWithEveryQuirk) {
  test::TempDir dir;
  make_fixture(dir.path());
  IngestReport report;
  NezhaOptions options;
  options.path = dir.path();
  Telemetry t = read_nezha(options, report);
  EXPECT_EQ(t.system, "online_boutique");
  int pods = 0;
  for (const auto& c : t.components) pods += c.kind == ComponentKind::pod;
  EXPECT_EQ(pods, 2);
  // adservice: row 1 (2 values), row 2 (1 value + NaN), row 4 (0.02; inf is malformed); frontend 2 values, the
  // duplicate row skipped; front_service 2 values.
  EXPECT_EQ(t.metrics.size(), 8u);
  EXPECT_EQ(report.missing_values(), 1u);
  EXPECT_EQ(t.metrics.front().time_ns, 1661140279607158889LL);  // from Time, not the bad TimeStamp
  EXPECT_EQ(t.spans.size(), 2u);
  EXPECT_EQ(t.spans[0].parent_id, 0u);
  EXPECT_EQ(t.spans[1].parent_id, t.spans[0].span_id);
  EXPECT_EQ(t.spans[0].duration_ns, 383364930);
  ASSERT_EQ(t.logs.size(), 2u);
  EXPECT_EQ(t.logs[1].time_ns, 1661140283500000000LL);  // Go zero time replaced by Timestamp
  EXPECT_EQ(t.log_templates.names().at(static_cast<std::size_t>(t.logs[0].template_id)), "INFO AdService served <*> ads");
  ASSERT_EQ(t.faults.size(), 1u);
  EXPECT_EQ(t.faults[0].begin_ns, 1661140320000000000LL);
  EXPECT_EQ(t.faults[0].end_ns - t.faults[0].begin_ns, options.fault_duration_ns);
  EXPECT_TRUE(t.labels_known);
  // Malformed: the short row, inf, the bad span id, the non-JSON log, the unknown fault type.
  EXPECT_EQ(report.malformed_rows(), 5u);
  ASSERT_FALSE(report.examples().empty());
  EXPECT_NE(report.examples()[0].find("adservice-5f6585d649-fnmft_metric.csv:4"), std::string::npos)
      << report.examples()[0];
  std::string notes;
  for (const auto& n : report.notes()) notes += n + "\n";
  EXPECT_NE(notes.find("adservice quirk"), std::string::npos) << notes;
  EXPECT_NE(notes.find("Go's zero time"), std::string::npos) << notes;
  EXPECT_NE(notes.find("duplicated"), std::string::npos) << notes;
}

// As in Train-Ticket 2023-01-29's list: a fault whose inject_timestamp is 8 hours from its inject_time (the spans of
// its minute are at inject_time). inject_time wins and the report says how many disagreed and by how much; a fault
// with one of the two takes that one.
TEST(NezhaReader, AFaultBeginsAtItsInjectTimeWhereTheTimestampDisagrees) {
  test::TempDir dir;
  make_fixture(dir.path());
  test::write_text(dir.path() / "2022-08-22-fault_list.json",
                   R"({"3": [{"inject_time": "2022-08-22 03:52:00", "inject_timestamp": "1661111520",
                               "inject_pod": "adservice-5f6585d649-fnmft", "inject_type": "cpu_contention"},
                              {"inject_timestamp": "1661140680",
                               "inject_pod": "adservice-5f6585d649-fnmft", "inject_type": "return"},
                              {"inject_time": "2022-08-22 04:05:00",
                               "inject_pod": "frontend-579b9bff58-t2dbm", "inject_type": "exception"}]})");
  IngestReport report;
  NezhaOptions options;
  options.path = dir.path();
  const Telemetry t = read_nezha(options, report);
  ASSERT_EQ(t.faults.size(), 3u);
  std::vector<std::int64_t> begins;
  for (const auto& f : t.faults) begins.push_back(f.begin_ns);
  std::sort(begins.begin(), begins.end());
  EXPECT_EQ(begins[0], 1661140320000000000LL);  // 03:52:00 UTC, not the timestamp's 19:52 the day before
  EXPECT_EQ(begins[1], 1661140680000000000LL);  // the timestamp alone
  EXPECT_EQ(begins[2], 1661141100000000000LL);  // inject_time alone
  std::string notes;
  for (const auto& n : report.notes()) notes += n + "\n";
  EXPECT_NE(notes.find("1 faults in 2022-08-22-fault_list.json have an inject_timestamp other than their inject_time "
                       "(up to 28800 s apart); inject_time used"),
            std::string::npos)
      << notes;
}

TEST(NezhaReader, StrictStopsAtTheFirstBadRow) {
  test::TempDir dir;
  make_fixture(dir.path());
  IngestReport report(/*strict=*/true);
  NezhaOptions options;
  options.path = dir.path();
  try {
    read_nezha(options, report);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("_metric.csv:4"), std::string::npos) << e.one_line();
    EXPECT_NE(e.one_line().find("strict=true"), std::string::npos) << e.one_line();
  }
}

TEST(NezhaReader, WrongLayoutsSayWhatWasExpected) {
  test::TempDir dir;
  IngestReport report;
  NezhaOptions options;
  options.path = dir / "nope";
  EXPECT_THROW(read_nezha(options, report), Error);
  options.path = dir.path();
  try {
    read_nezha(options, report);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("not a Nezha date directory"), std::string::npos) << e.one_line();
  }
  options.date = "2030-01-01";
  EXPECT_THROW(read_nezha(options, report), Error);
  test::write_text(dir / "metric" / "x_metric.csv", "Time,Bogus\n1,2\n");
  options.date.clear();
  try {
    read_nezha(options, report);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("missing column 'TimeStamp'"), std::string::npos) << e.one_line();
  }
}

namespace {
// Extracts a Nezha archive from ../shared/data into `dir`; false (and a printed reason) when absent.
bool extract(const std::string& archive, const test::TempDir& dir) {
  auto data = test::shared_data_dir();
  if (data.empty() || !std::filesystem::exists(data / "nezha" / archive)) return false;
  std::string cmd = "tar --zstd -xf '" + (data / "nezha" / archive).string() + "' -C '" + dir.path().string() + "'";
  return std::system(cmd.c_str()) == 0;
}
}  // namespace

TEST(NezhaReader, RealTrainTicket20230130) {
  test::TempDir dir;
  if (!extract("nezha-train-ticket-2023-01-30.tar.zst", dir))
    GTEST_SKIP() << "../shared/data/nezha/nezha-train-ticket-2023-01-30.tar.zst not found";
  IngestReport report;
  NezhaOptions options;
  options.path = dir.path();
  options.date = "2023-01-30";
  Telemetry t = read_nezha(options, report);
  EXPECT_EQ(t.system, "train_ticket");
  EXPECT_EQ(t.faults.size(), 17u);
  EXPECT_EQ(std::count_if(t.faults.begin(), t.faults.end(), [](const Fault& f) { return f.type == 4; }), 14);
  EXPECT_EQ(std::count_if(t.components.begin(), t.components.end(),
                          [](const Component& c) { return c.kind == ComponentKind::pod; }),
            46);
  EXPECT_EQ(report.malformed_rows(), 0u);
  EXPECT_GT(t.spans.size(), 100000u);
  bool unsorted_reported = false;  // Nezha's log files list records newest first
  std::string notes;
  for (const auto& n : report.notes()) notes += n + "\n";
  for (const auto& n : report.notes()) unsorted_reported = unsorted_reported || n.find("out of time order") != std::string::npos;
  EXPECT_TRUE(unsorted_reported);
  // 12:06:12 by inject_time, 12:07:12 by its inject_timestamp: the traces of that fault begin at 12_06.
  EXPECT_EQ(std::count_if(t.faults.begin(), t.faults.end(), [](const Fault& f) { return f.begin_ns == 1675080372000000000LL; }), 1);
  EXPECT_NE(notes.find("4 faults in 2023-01-30-fault_list.json have an inject_timestamp other than their inject_time "
                       "(up to 60 s apart)"),
            std::string::npos)
      << notes;
  auto windows = make_windows(t, {60'000'000'000, 30'000'000'000});
  EXPECT_GT(std::count_if(windows.begin(), windows.end(), [](const Window& w) { return w.label == 1; }), 17);
}

TEST(NezhaReader, RealOnlineBoutique20220822) {
  test::TempDir dir;
  if (!extract("nezha-online-boutique-2022-08-22.tar.zst", dir))
    GTEST_SKIP() << "../shared/data/nezha/nezha-online-boutique-2022-08-22.tar.zst not found";
  IngestReport report;
  NezhaOptions options;
  options.path = dir.path();
  options.date = "2022-08-22";
  Telemetry t = read_nezha(options, report);
  EXPECT_EQ(t.system, "online_boutique");
  EXPECT_EQ(t.faults.size(), 24u);
  EXPECT_EQ(std::count_if(t.components.begin(), t.components.end(),
                          [](const Component& c) { return c.kind == ComponentKind::pod; }),
            10);
  bool quirk = false;
  for (const auto& n : report.notes()) quirk = quirk || n.find("adservice quirk") != std::string::npos;
  EXPECT_TRUE(quirk);
  // The fault-free phase of the same date.
  options.phase = "construct";
  IngestReport construct_report;
  Telemetry free_phase = read_nezha(options, construct_report);
  EXPECT_TRUE(free_phase.faults.empty());
  EXPECT_TRUE(free_phase.labels_known);
}
