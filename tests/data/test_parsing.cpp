// CSV reading, timestamps, UTF-8 checks, fault names and Drain templates.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/csv.h"
#include "data/drain.h"
#include "data/fault_types.h"
#include "data/log_text.h"
#include "data/telemetry.h"
#include "data/time_parse.h"
#include "test_util.h"

using namespace rslicer;
using namespace rslicer::data;

TEST(Csv, QuotingEscapesNewlinesAndLineNumbers) {
  test::TempDir dir;
  test::write_text(dir / "a.csv", "a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,\"multi\nline\",z\n3,,\n");
  CsvReader csv(dir / "a.csv");
  std::vector<std::string> row;
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(row, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(row, (std::vector<std::string>{"1", "x,y", "say \"hi\""}));
  EXPECT_EQ(csv.line(), 2u);
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(row[1], "multi\nline");
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(csv.line(), 5u);  // the quoted newline counted
  EXPECT_EQ(row, (std::vector<std::string>{"3", "", ""}));
  EXPECT_FALSE(csv.next(row));
}

TEST(Csv, UnterminatedQuoteAndMissingFileAreErrors) {
  test::TempDir dir;
  test::write_text(dir / "bad.csv", "a\n\"open\n");
  CsvReader csv(dir / "bad.csv");
  std::vector<std::string> row;
  csv.next(row);
  try {
    csv.next(row);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.one_line().find("bad.csv:2"), std::string::npos) << e.one_line();
  }
  EXPECT_THROW(CsvReader(dir / "none.csv"), Error);
  EXPECT_THROW(column_index({"a", "b"}, "c", "x.csv"), Error);
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("中文 ✓ 😀 e\xcc\x81"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xe4\xb8"));      // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("a\x80" "b"));     // stray continuation
}

TEST(Time, FormatsFoundInTelemetry) {
  EXPECT_EQ(parse_datetime_ns("2023-01-30 11:39:54.088933861 +0000 UTC m=+1.265764158"), 1675078794088933861LL);
  EXPECT_EQ(parse_datetime_ns("2023-01-30T11:50:59.971622667Z"), 1675079459971622667LL);
  EXPECT_EQ(parse_datetime_ns("2023-01-30 11:51:46"), 1675079506000000000LL);
  EXPECT_EQ(parse_datetime_ns("2023-01-30T19:51:46+08:00"), 1675079506000000000LL);
  EXPECT_FALSE(parse_datetime_ns("yesterday"));
  EXPECT_FALSE(parse_datetime_ns("2023-13-30 11:51:46"));
  EXPECT_EQ(parse_epoch_ns("1675079506", 's'), 1675079506000000000LL);
  EXPECT_EQ(parse_epoch_ns("1675079506.5", 's'), 1675079506500000000LL);
  EXPECT_EQ(parse_epoch_ns("383364", 'u'), 383364000LL);
  EXPECT_FALSE(parse_epoch_ns("12ab", 's'));
  EXPECT_FALSE(is_plausible_time_ns(-6795364578871345152LL));  // Go's zero time, seen in Nezha logs
  EXPECT_TRUE(is_plausible_time_ns(1675079506000000000LL));
  EXPECT_EQ(format_utc(1675079506000000000LL), "2023-01-30T11:51:46Z");
}

TEST(FaultTypes, NamesFromEveryDataSetMapToOneList) {
  EXPECT_EQ(canonical_fault_types().size(), 18u);
  EXPECT_EQ(fault_type_id("network_delay"), 4);
  EXPECT_EQ(fault_type_id("cpu_contention"), 0);
  EXPECT_EQ(fault_type_id("exception"), 15);
  EXPECT_EQ(fault_type_id("return"), 16);
  EXPECT_EQ(fault_type_id("k8s容器网络延迟"), 4);
  EXPECT_EQ(fault_type_id("node 磁盘空间消耗"), 14);
  EXPECT_EQ(fault_type_id("K8S容器CPU负载"), 0);
  EXPECT_EQ(fault_type_id("Network Delay"), 4);
  EXPECT_EQ(fault_type_id("container_process_kill"), 8);
  EXPECT_EQ(fault_type_id("NetworkChaos/delay"), 4);
  EXPECT_EQ(fault_type_id("no such fault"), -1);
}

TEST(Components, ServiceFromPodName) {
  EXPECT_EQ(service_of_pod("ts-order-service-6f94c49ccd-t4k6c"), "ts-order-service");
  EXPECT_EQ(service_of_pod("adservice-5f6585d649-fnmft"), "adservice");
  EXPECT_EQ(service_of_pod("ts-station-food-service-dc4d75dd-k65k2"), "ts-station-food-service");
  EXPECT_EQ(service_of_pod("redis-cart-0"), "redis-cart");
  EXPECT_EQ(service_of_pod("node-6.adservice2-0"), "adservice");
  EXPECT_EQ(service_of_pod("frontend-1"), "frontend");
  Telemetry t;
  std::int32_t pod = t.add_pod("cartservice-579f59597d-wc2lz", "node-1");
  const Component& c = t.components[static_cast<std::size_t>(pod)];
  EXPECT_EQ(c.kind, ComponentKind::pod);
  EXPECT_EQ(t.components[static_cast<std::size_t>(c.service)].name, "cartservice");
  EXPECT_EQ(t.components[static_cast<std::size_t>(c.node)].kind, ComponentKind::node);
  EXPECT_EQ(t.add_pod("cartservice-579f59597d-wc2lz"), pod);  // interned
}

TEST(Drain, MinesTemplatesAndKeepsParameters) {
  DrainParser drain;
  auto a = drain.add("INFO request GET_/cart completed in 12 ms trace abc123");
  auto b = drain.add("INFO request GET_/cart completed in 340 ms trace ff0042");
  auto c = drain.add("INFO request POST_/cart completed in 7 ms trace 99");
  auto d = drain.add("ERROR connection refused to cartservice");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);  // one token differs out of 8: similar enough
  EXPECT_NE(a, d);
  EXPECT_EQ(drain.template_of(a), "INFO request <*> completed in <*> ms trace <*>");
  EXPECT_EQ(drain.params_of(a, "INFO request GET_/cart completed in 12 ms trace abc123"),
            "GET_/cart\x1f" "12\x1f" "abc123");
  EXPECT_EQ(drain.template_of(d), "ERROR connection refused to cartservice");
  EXPECT_EQ(drain.params_of(d, "ERROR connection refused to cartservice"), "");
}

TEST(LogText, LevelsAndCollector) {
  EXPECT_EQ(detect_log_level("19:50:59.971 INFO  t.s.TravelServiceImpl#457"), LogLevel::info);
  EXPECT_EQ(detect_log_level("severity: warning, message: slow"), LogLevel::warn);
  EXPECT_EQ(detect_log_level("[ERROR] boom"), LogLevel::error);
  EXPECT_EQ(detect_log_level("nothing here"), LogLevel::unknown);
  Telemetry t;
  LogCollector logs;
  logs.add(2, 0, "user 17 logged in");
  logs.add(1, 0, "user 42 logged in");
  logs.finish(t);
  ASSERT_EQ(t.logs.size(), 2u);
  EXPECT_EQ(t.log_templates.names().at(static_cast<std::size_t>(t.logs[0].template_id)), "user <*> logged in");
  EXPECT_EQ(t.logs[1].params, "42");
}
