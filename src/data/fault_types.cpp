#include "data/fault_types.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

namespace rslicer::data {

const std::vector<std::string>& canonical_fault_types() {
  static const std::vector<std::string> types = {
      "container_cpu_load",          // 0  k8s容器cpu负载
      "container_memory_load",       // 1  k8s容器内存负载
      "container_read_io_load",      // 2  k8s容器读io负载
      "container_write_io_load",     // 3  k8s容器写io负载
      "container_network_delay",     // 4  k8s容器网络延迟
      "container_network_loss",      // 5  k8s容器网络丢包
      "container_network_corrupt",   // 6  k8s容器网络资源包损坏
      "container_network_duplicate", // 7  k8s容器网络资源包重复发送
      "container_process_kill",      // 8  k8s容器进程中止
      "node_cpu_failure",            // 9  node节点CPU故障
      "node_cpu_climb",              // 10 node节点CPU爬升
      "node_memory_consumption",     // 11 node 内存消耗
      "node_disk_read_io",           // 12 node 磁盘读IO消耗
      "node_disk_write_io",          // 13 node 磁盘写IO消耗
      "node_disk_space",             // 14 node 磁盘空间消耗
      "code_exception",              // 15 Nezha "exception"
      "code_wrong_return",           // 16 Nezha "return"
      "code_cpu_consumed",           // 17 Nezha "cpu_consumed"
  };
  return types;
}

namespace {
std::string normalise(std::string s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      out += c;  // keep UTF-8 (Chinese names) as is
    } else if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}
}  // namespace

std::int16_t fault_type_id(const std::string& raw) {
  static const std::unordered_map<std::string, std::int16_t> aliases = [] {
    std::unordered_map<std::string, std::int16_t> m;
    const auto& types = canonical_fault_types();
    for (std::size_t i = 0; i < types.size(); ++i) m[types[i]] = static_cast<std::int16_t>(i);
    const std::vector<std::pair<std::string, std::int16_t>> extra = {
        // AIOps 2022 (Chinese), spaces removed by normalise() are kept as '_' only between ASCII runs
        {"k8s容器cpu负载", 0}, {"k8s容器内存负载", 1}, {"k8s容器读io负载", 2}, {"k8s容器写io负载", 3},
        {"k8s容器网络延迟", 4}, {"k8s容器网络丢包", 5}, {"k8s容器网络资源包损坏", 6},
        {"k8s容器网络资源包重复发送", 7}, {"k8s容器进程中止", 8}, {"node节点cpu故障", 9}, {"node节点cpu爬升", 10},
        {"node_内存消耗", 11}, {"node_磁盘读io消耗", 12}, {"node_磁盘写io消耗", 13}, {"node_磁盘空间消耗", 14},
        // ART / English descriptions
        {"cpu_load", 0}, {"cpu_stress", 0}, {"container_cpu", 0}, {"memory_load", 1}, {"memory_stress", 1},
        {"container_memory", 1}, {"read_io_load", 2}, {"disk_read", 2}, {"write_io_load", 3}, {"disk_write", 3},
        {"disk_io", 3}, {"io_stress", 3}, {"network_delay", 4}, {"delay", 4}, {"network_loss", 5}, {"loss", 5},
        {"packet_loss", 5}, {"network_corrupt", 6}, {"corrupt", 6}, {"packet_corruption", 6},
        {"network_duplicate", 7}, {"duplicate", 7}, {"packet_duplication", 7}, {"process_kill", 8},
        {"pod_kill", 8}, {"pod_failure", 8}, {"container_kill", 8}, {"node_cpu", 9}, {"node_memory", 11},
        {"node_disk_space_consumption", 14}, {"node_disk_read_io_consumption", 12},
        {"node_disk_write_io_consumption", 13},
        // Nezha
        {"cpu_contention", 0}, {"exception", 15}, {"return", 16}, {"cpu_consumed", 17},
        // Chaos Mesh kinds (kind/action)
        {"stresschaos_cpu", 0}, {"stresschaos_memory", 1}, {"networkchaos_delay", 4}, {"networkchaos_loss", 5},
        {"networkchaos_corrupt", 6}, {"networkchaos_duplicate", 7}, {"podchaos_pod_kill", 8},
        {"podchaos_container_kill", 8}, {"podchaos_pod_failure", 8}, {"iochaos_latency", 3}, {"iochaos_fault", 3},
    };
    for (const auto& [name, id] : extra) m[normalise(name)] = id;
    return m;
  }();
  auto it = aliases.find(normalise(raw));
  return it == aliases.end() ? static_cast<std::int16_t>(-1) : it->second;
}

}  // namespace rslicer::data
