// A small hand-made telemetry shared by the data tests: 2 pods, metrics every 10 s for 10 min, spans in the first
// 5 min, two error logs at minute 7, two overlapping faults.
#pragma once

#include "data/telemetry.h"

namespace rslicer::test {

using namespace rslicer::data;
constexpr std::int64_t S = 1'000'000'000;  // one second in ns
constexpr std::int64_t T0 = 1'700'000'010 * S;  // a multiple of the 30 s stride

// Metrics every 10 s for 10 min; spans only in the first 5 min; logs only at minute 7.
inline Telemetry fixture() {
  Telemetry t;
  t.system = "fixture";
  t.source_format = "test";
  t.labels_known = true;
  std::int32_t a = t.add_pod("svc-a-6f94c49ccd-aaaaa", "node-1");
  std::int32_t b = t.add_pod("svc-b-6f94c49ccd-bbbbb", "node-1");
  std::int32_t cpu = t.metric_names.intern("cpu");
  for (std::int64_t k = 0; k < 60; ++k) {
    t.metrics.push_back({T0 + k * 10 * S, a, cpu, static_cast<float>(k)});
    t.metrics.push_back({T0 + k * 10 * S, b, cpu, static_cast<float>(-k)});
  }
  std::int32_t op = t.operations.intern("GET /x");
  for (std::int64_t k = 0; k < 30; ++k)
    t.spans.push_back({1000u + static_cast<std::uint64_t>(k), 1u, 0u, T0 + k * 10 * S + 5 * S, 2 * S, a, op, 0});
  std::int32_t tmpl = t.log_templates.intern("error <*> at <*>");
  t.logs.push_back({T0 + 420 * S, b, LogLevel::error, tmpl, "E1\x1fhere"});
  t.logs.push_back({T0 + 421 * S, b, LogLevel::error, tmpl, std::string("E2\x1f") + "th\xc3\xa9re"});
  // Fault 1: [100 s, 160 s) on a; fault 2: [150 s, 400 s) on b.
  t.faults.push_back({T0 + 100 * S, T0 + 160 * S, 4, a, ComponentKind::pod});
  t.faults.push_back({T0 + 150 * S, T0 + 400 * S, 0, b, ComponentKind::pod});
  t.sort_by_time();
  return t;
}


}  // namespace rslicer::test
