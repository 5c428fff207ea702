#include "data/telemetry.h"

#include <algorithm>
#include <limits>
#include <regex>

namespace rslicer::data {

std::int32_t NameTable::intern(const std::string& name) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  auto id = static_cast<std::int32_t>(names_.size());
  names_.push_back(name);
  ids_.emplace(name, id);
  return id;
}

std::int32_t NameTable::find(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

std::string service_of_pod(const std::string& pod_name) {
  std::string name = pod_name;
  if (auto dot = name.rfind('.'); dot != std::string::npos) name = name.substr(dot + 1);  // AIOps "node-6.pod"
  static const std::regex deployment(R"(^(.+)-[0-9a-f]{6,10}-[0-9a-z]{5}$)");
  static const std::regex statefulset(R"(^(.+?)-?[0-9]+$)");
  std::smatch m;
  if (std::regex_match(name, m, deployment)) return m[1];
  if (std::regex_match(name, m, statefulset)) {
    std::string s = m[1];
    // AIOps ids such as "adservice2-0": the trailing digit of the deployment name is a replica-set index.
    while (!s.empty() && std::isdigit(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (!s.empty() && s.back() == '-') s.pop_back();
    return s.empty() ? name : s;
  }
  return name;
}

std::int32_t Telemetry::component_id(const std::string& name) const {
  auto it = component_ids_.find(name);
  return it == component_ids_.end() ? -1 : it->second;
}

std::int32_t Telemetry::add_component(const std::string& name, ComponentKind kind, std::int32_t service,
                                      std::int32_t node) {
  if (auto id = component_id(name); id >= 0) {
    Component& c = components[static_cast<std::size_t>(id)];
    if (c.node < 0 && node >= 0) c.node = node;
    return id;
  }
  auto id = static_cast<std::int32_t>(components.size());
  components.push_back({id, kind, name, service, node});
  component_ids_.emplace(name, id);
  return id;
}

std::int32_t Telemetry::add_pod(const std::string& pod_name, const std::string& node_name) {
  std::int32_t node = node_name.empty() ? -1 : add_component(node_name, ComponentKind::node);
  std::string service_name = service_of_pod(pod_name);
  std::int32_t service = service_name == pod_name ? -1 : add_component(service_name, ComponentKind::service);
  return add_component(pod_name, ComponentKind::pod, service, node);
}

std::size_t Telemetry::sort_by_time() {
  std::size_t out_of_order = 0;
  auto count = [&](const auto& items, auto time) {
    for (std::size_t i = 1; i < items.size(); ++i) out_of_order += time(items[i]) < time(items[i - 1]);
  };
  count(metrics, [](const MetricSample& m) { return m.time_ns; });
  count(spans, [](const Span& s) { return s.start_ns; });
  count(logs, [](const LogRecord& l) { return l.time_ns; });
  std::stable_sort(metrics.begin(), metrics.end(),
                   [](const MetricSample& a, const MetricSample& b) { return a.time_ns < b.time_ns; });
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start_ns < b.start_ns; });
  std::stable_sort(logs.begin(), logs.end(), [](const LogRecord& a, const LogRecord& b) { return a.time_ns < b.time_ns; });
  std::stable_sort(faults.begin(), faults.end(), [](const Fault& a, const Fault& b) { return a.begin_ns < b.begin_ns; });
  return out_of_order;
}

std::int64_t Telemetry::begin_ns() const {
  std::int64_t t = std::numeric_limits<std::int64_t>::max();
  if (!metrics.empty()) t = std::min(t, metrics.front().time_ns);
  if (!spans.empty()) t = std::min(t, spans.front().start_ns);
  if (!logs.empty()) t = std::min(t, logs.front().time_ns);
  return t == std::numeric_limits<std::int64_t>::max() ? 0 : t;
}

std::int64_t Telemetry::end_ns() const {
  std::int64_t t = std::numeric_limits<std::int64_t>::min();
  if (!metrics.empty()) t = std::max(t, metrics.back().time_ns + 1);
  if (!spans.empty()) t = std::max(t, spans.back().start_ns + 1);
  if (!logs.empty()) t = std::max(t, logs.back().time_ns + 1);
  return t == std::numeric_limits<std::int64_t>::min() ? 0 : t;
}

}  // namespace rslicer::data
