// The AIOps 2022 / ART reader and the OTLP reader on hand-made fixtures, and the real AIOps 2022 log samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "data/aiops_reader.h"
#include "data/otlp_reader.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;

namespace {
int count_kind(const Telemetry& t, ComponentKind k) {
  return static_cast<int>(std::count_if(t.components.begin(), t.components.end(), [&](const Component& c) { return c.kind == k; }));
}
}  // namespace

TEST(AiopsReader, FixtureCloudbed) {
  test::TempDir dir;
  const auto cb = dir / "2022-03-20-cloudbed1";
  test::write_text(cb / "metric" / "container" / "kpi_container_cpu_usage_seconds.csv",
                   "timestamp,cmdb_id,kpi_name,value\n"
                   "1647734400,node-6.adservice2-0,container_cpu_usage_seconds,0.5\n"
                   "1647734460,node-6.adservice2-0,container_cpu_usage_seconds,NaN\n"
                   "1647734460,node-5.cartservice-0,container_cpu_usage_seconds,0.7\n"
                   "bad,node-5.cartservice-0,container_cpu_usage_seconds,1\n");
  test::write_text(cb / "metric" / "node" / "kpi_node.csv",
                   "timestamp,cmdb_id,kpi_name,value\n1647734400,node-6,system.cpu.pct_usage,12.5\n");
  test::write_text(cb / "metric" / "istio" / "kpi_istio.csv",
                   "timestamp,cmdb_id,kpi_name,value\n1647734400,adservice2-0.source.adservice.grpc,istio_requests.grpc.0.2.0,3\n");
  test::write_text(cb / "metric" / "service" / "metric_service.csv",
                   "service,timestamp,rr,sr,mrt,count\nadservice-grpc,1647734400,100.0,100.0,2.5,40\n");
  test::write_text(cb / "trace" / "all" / "trace_jaeger-span.csv",
                   "timestamp,cmdb_id,span_id,trace_id,duration,type,status_code,operation_name,parent_span\n"
                   "1647734401000,frontend-0,a1,t1,12,rpc,0,hipstershop.AdService/GetAds,\n"
                   "1647734401002,adservice2-0,b2,t1,5,rpc,2,hipstershop.AdService/GetAds,a1\n");
  test::write_text(cb / "log" / "all" / "log_filebeat-testbed-log-service.csv",
                   "log_id,timestamp,cmdb_id,log_name,value\n"
                   "x1,1647734402,adservice2-0,log_adservice-service_application,\"severity: info, message: served 3 ads\"\n"
                   "x2,1647734403,cartservice-0,log_cartservice-service_application,\"\x1b[40m\x1b[32minfo\x1b[39m: cart 17 ok\"\n");
  test::write_text(dir / "groundtruth-k8s-1-2022-03-20.csv",
                   "timestamp,level,cmdb_id,failure_type\n"
                   "1647734430,pod,adservice2-0,k8s容器网络延迟\n"
                   "1647734500,node,node-6,node 磁盘空间消耗\n"
                   "1647734600,service,adservice,k8s容器cpu负载\n"
                   "1647734700,pod,adservice2-0,世界末日\n");
  IngestReport report;
  AiopsOptions o;
  o.path = cb;
  o.groundtruth = dir / "groundtruth-k8s-1-2022-03-20.csv";
  Telemetry t = read_aiops(o, report);
  EXPECT_EQ(t.metrics.size(), 2u + 1 + 1 + 4);  // container 2 (NaN skipped, bad row), node 1, istio 1, service 4
  EXPECT_EQ(report.missing_values(), 1u);
  EXPECT_EQ(report.malformed_rows(), 2u);  // the bad timestamp, the unknown failure type
  ASSERT_EQ(t.spans.size(), 2u);
  EXPECT_EQ(t.spans[1].parent_id, t.spans[0].span_id);
  EXPECT_EQ(t.spans[0].duration_ns, 12'000'000);
  EXPECT_EQ(t.spans[0].start_ns, 1647734401000000000LL);
  EXPECT_NE(t.spans[1].status, 0);
  ASSERT_EQ(t.logs.size(), 2u);
  EXPECT_EQ(t.logs[0].level, LogLevel::info);
  EXPECT_EQ(t.log_templates.names().at(static_cast<std::size_t>(t.logs[1].template_id)).find('\x1b'), std::string::npos);
  ASSERT_EQ(t.faults.size(), 3u);
  EXPECT_EQ(t.faults[0].type, 4);
  EXPECT_EQ(t.faults[1].type, 14);
  EXPECT_EQ(t.faults[1].level, ComponentKind::node);
  EXPECT_EQ(t.faults[2].level, ComponentKind::service);
  const Component& pod = t.components.at(static_cast<std::size_t>(t.faults[0].root_cause));
  EXPECT_EQ(pod.name, "adservice2-0");
  EXPECT_EQ(t.components.at(static_cast<std::size_t>(pod.node)).name, "node-6");
  EXPECT_EQ(t.components.at(static_cast<std::size_t>(pod.service)).name, "adservice");
  EXPECT_TRUE(t.labels_known);
  o.path = dir / "nope";
  EXPECT_THROW(read_aiops(o, report), Error);
  EXPECT_EQ(parse_epoch_auto_ns("1647734400"), 1647734400000000000LL);
  EXPECT_EQ(parse_epoch_auto_ns("1647734400123"), 1647734400123000000LL);
  EXPECT_FALSE(parse_epoch_auto_ns("12"));
}

TEST(AiopsReader, RealLogSamples) {
  auto data = test::shared_data_dir();
  if (data.empty() || !std::filesystem::exists(data / "aiops2022" / "aiops2022-log-samples.tar.zst"))
    GTEST_SKIP() << "../shared/data/aiops2022/aiops2022-log-samples.tar.zst not found";
  test::TempDir dir;
  std::filesystem::create_directories(dir / "cloudbed" / "log" / "all");
  std::string cmd = "tar --zstd -xf '" + (data / "aiops2022" / "aiops2022-log-samples.tar.zst").string() + "' -C '" +
                    (dir / "x").string() + "' 2>/dev/null || (mkdir -p '" + (dir / "x").string() + "' && tar --zstd -xf '" +
                    (data / "aiops2022" / "aiops2022-log-samples.tar.zst").string() + "' -C '" + (dir / "x").string() + "')";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "x"))
    if (e.path().extension() == ".csv") std::filesystem::copy(e.path(), dir / "cloudbed" / "log" / "all" / e.path().filename());
  IngestReport report;
  AiopsOptions o;
  o.path = dir / "cloudbed";
  Telemetry t = read_aiops(o, report);
  EXPECT_EQ(t.logs.size() + report.malformed_rows(), 40000u);  // 4 files of 10,000 records (the data README says 9,999)
  EXPECT_GT(t.logs.size(), 39000u);
  EXPECT_GT(t.log_templates.size(), 10u);
  EXPECT_FALSE(t.labels_known);
  std::printf("AIOps 2022 log samples: %zu records, %zu templates, %zu malformed\n", t.logs.size(), t.log_templates.size(),
              report.malformed_rows());
}

TEST(OtlpReader, FileExporterLinesAndChaosLabels) {
  test::TempDir dir;
  const std::string resource =
      R"("resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cartservice"}},)"
      R"({"key":"k8s.pod.name","value":{"stringValue":"cartservice-7d9c4b8f6d-abcde"}},)"
      R"({"key":"k8s.node.name","value":{"stringValue":"node-2"}}]})";
  test::write_text(dir / "otel" / "traces.jsonl",
                   "{\"resourceSpans\":[{" + resource +
                       R"(,"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",)"
                       R"("parentSpanId":"","name":"GetCart","startTimeUnixNano":"1709546400000000000",)"
                       R"("endTimeUnixNano":"1709546400005000000","status":{"code":2}}]}]}]})" "\n" "not json\n");
  test::write_text(dir / "otel" / "logs.jsonl",
                   "{\"resourceLogs\":[{" + resource +
                       R"(,"scopeLogs":[{"logRecords":[{"timeUnixNano":"1709546401000000000","severityNumber":17,)"
                       R"("body":{"stringValue":"redis timeout after 1000 ms"}}]}]}]})" "\n");
  test::write_text(dir / "otel" / "metrics.jsonl",
                   "{\"resourceMetrics\":[{" + resource +
                       R"(,"scopeMetrics":[{"metrics":[{"name":"container.cpu.utilization","gauge":{"dataPoints":[)"
                       R"({"timeUnixNano":"1709546400000000000","asDouble":0.42},{"timeUnixNano":"1709546415000000000","asInt":"1"}]}}]}]}]})" "\n");
  test::write_text(dir / "labels.csv",
                   "name,kind,target,start,end\n"
                   "delay-cart,NetworkChaos/delay,cartservice-7d9c4b8f6d-abcde,2024-03-04T10:00:30Z,2024-03-04T10:05:30Z\n"
                   "weird,Meteor/strike,x,2024-03-04T10:00:30Z,2024-03-04T10:05:30Z\n");
  IngestReport report;
  OtlpOptions o;
  o.path = dir / "otel";
  o.labels = dir / "labels.csv";
  Telemetry t = read_otlp(o, report);
  ASSERT_EQ(t.spans.size(), 1u);
  EXPECT_EQ(t.spans[0].duration_ns, 5'000'000);
  EXPECT_EQ(t.spans[0].status, 1);
  ASSERT_EQ(t.logs.size(), 1u);
  EXPECT_EQ(t.logs[0].level, LogLevel::error);
  ASSERT_EQ(t.metrics.size(), 2u);
  EXPECT_FLOAT_EQ(t.metrics[1].value, 1.0f);
  ASSERT_EQ(t.faults.size(), 1u);
  EXPECT_EQ(t.faults[0].type, 4);
  EXPECT_EQ(t.faults[0].end_ns - t.faults[0].begin_ns, 300'000'000'000LL);
  EXPECT_EQ(report.malformed_rows(), 2u);  // the non-JSON line, the unknown chaos kind
  EXPECT_EQ(count_kind(t, ComponentKind::node), 1);
  EXPECT_THROW(read_otlp({dir / "missing", "", "x"}, report), Error);
}
