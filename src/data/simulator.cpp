#include "data/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "data/fault_types.h"

namespace rslicer::data {

const std::vector<std::string>& simulator_fault_types() {
  static const std::vector<std::string> types = {"cpu_stress",  "memory_stress", "network_delay", "packet_loss",
                                                 "pod_kill",    "exception",     "wrong_return",  "disk_io"};
  return types;
}

std::int16_t simulator_fault_type_id(const std::string& name) {
  static const std::unordered_map<std::string, std::string> canonical = {
      {"cpu_stress", "container_cpu_load"},         {"memory_stress", "container_memory_load"},
      {"network_delay", "container_network_delay"}, {"packet_loss", "container_network_loss"},
      {"pod_kill", "container_process_kill"},       {"exception", "code_exception"},
      {"wrong_return", "code_wrong_return"},        {"disk_io", "container_write_io_load"}};
  auto it = canonical.find(name);
  return it == canonical.end() ? static_cast<std::int16_t>(-1) : fault_type_id(it->second);
}

void validate(const SimulatorSpec& spec) {
  std::set<std::string> names;
  for (const auto& s : spec.services) {
    if (!names.insert(s.name).second)
      throw ConfigError("service '" + s.name + "' is defined twice", "system.services", "unique service names");
    if (s.replicas < 1 || s.service_time_ms <= 0 || s.ops.empty())
      throw ConfigError("service '" + s.name + "' needs replicas >= 1, service_time_ms > 0 and ops",
                        "system.services." + s.name, "a complete service entry");
  }
  if (!names.count(spec.entry))
    throw ConfigError("entry service '" + spec.entry + "' is not a service", "system.entry", "one of system.services");
  for (const auto& s : spec.services)
    for (const auto& [callee, p] : s.calls)
      if (!names.count(callee) || p < 0 || p > 1)
        throw ConfigError("call " + s.name + " -> " + callee + " (" + std::to_string(p) + ")", "system.calls",
                          "an existing callee and a probability in [0, 1]");
  if (spec.regimes.empty()) throw ConfigError("no workload regimes", "workload.regimes", "at least one regime");
  for (const auto& f : spec.fault_types)
    if (simulator_fault_type_id(f) < 0)
      throw ConfigError("unknown fault type '" + f + "'", "faults.types",
                        "some of cpu_stress, memory_stress, network_delay, packet_loss, pod_kill, exception, "
                        "wrong_return, disk_io");
  if (spec.duration_s <= 0 || spec.metric_interval_s <= 0 || spec.nodes < 1)
    throw ConfigError("duration, metric_interval_s and nodes must be positive", "simulate config", "positive values");
  if (spec.segment_min_s <= 0 || spec.segment_max_s < spec.segment_min_s)
    throw ConfigError("bad regime segment lengths", "workload", "0 < segment_min_s <= segment_max_s");
}

namespace {

// Log templates: "{}" marks a parameter (a whitespace-separated token of its own).
enum Template : int {
  kRequestDone, kSlowRequest, kException, kBadReturn, kBadResponseFromCallee, kCallRefused, kCallTimeout,
  kGcPause, kMemoryHigh, kSlowDisk, kStarted, kHealth, kQueueLong, kTemplateCount
};
const char* const kTemplates[kTemplateCount] = {
    "INFO request {} completed in {} ms trace {}",
    "WARN slow request {} took {} ms threshold {} ms",
    "ERROR request {} failed java.lang.RuntimeException: unexpected state {} at {}",
    "ERROR request {} returned status {} body {}",
    "WARN call to {} returned unexpected status {}",
    "ERROR call to {} failed: connection refused after {} ms",
    "WARN call to {} timed out after {} ms retry {}",
    "INFO GC pause {} ms heap {} MB",
    "WARN memory usage high {} MB of {} MB",
    "WARN slow disk write {} ms on {}",
    "INFO Started {} in {} seconds",
    "INFO health check ok uptime {} s",
    "WARN request queue length {} workers busy {}",
};

const char* const kKpis[] = {"CpuUsage(m)", "CpuUsageRate(%)", "MemoryUsage(Mi)", "MemoryUsageRate(%)",
                             "SyscallRead", "SyscallWrite", "NetworkReceiveBytes", "NetworkTransmitBytes",
                             "PodClientLatencyP90(s)", "PodServerLatencyP90(s)", "PodClientLatencyP95(s)",
                             "PodServerLatencyP95(s)", "PodClientLatencyP99(s)", "PodServerLatencyP99(s)",
                             "PodWorkload(Ops)", "PodSuccessRate(%)", "NodeCpuUsageRate(%)", "NodeMemoryUsageRate(%)",
                             "NodeNetworkReceiveBytes"};
enum Kpi : int {
  kCpu, kCpuRate, kMem, kMemRate, kSysRead, kSysWrite, kRx, kTx, kClientP90, kServerP90, kClientP95, kServerP95,
  kClientP99, kServerP99, kWorkload, kSuccess, kNodeCpu, kNodeMem, kNodeRx, kKpiCount
};

constexpr double kWorkers = 4.0;         // concurrent requests a pod serves
constexpr double kCpuLimitM = 1000.0;    // pod CPU limit (millicores)
constexpr double kMemLimitMi = 2048.0;   // pod memory limit
constexpr double kNodeCpuM = 4000.0, kNodeMemMi = 16384.0;
constexpr double kBaseError = 0.002;

struct Pod {
  std::string name;
  int service;
  int node;          // node index
  std::int32_t id;   // component id
  double memory_drift = 0;
  bool batch = false;
};

struct ActiveFault {
  std::int64_t begin, end;
  std::string type;
  int pod;
};

// Per-pod effects of the faults active at one instant.
struct Effects {
  double slowdown = 1, cpu_extra_m = 0, memory_extra_mi = 0, delay_into_s = 0, error_into = 0, own_error = 0,
         io_factor = 1, tx_factor = 1;
  bool down = false, restarting = false;
  std::string fault;  // type of the fault on this pod, "" if none
};

struct PodState {
  double lambda = 0, rho = 0, own_s = 0, callee_s = 0, latency_s = 0, error = 0;
};

class Simulation {
 public:
  explicit Simulation(const SimulatorSpec& spec) : spec_(spec), rng_(spec.seed) {}

  Telemetry run() {
    build_topology();
    schedule_regimes();
    schedule_faults();
    t_.system = spec_.system;
    t_.source_format = "simulated";
    t_.labels_known = true;
    for (const char* k : kKpis) t_.metric_names.intern(k);
    for (const char* tmpl : kTemplates) t_.log_templates.intern(template_text(tmpl));
    const auto step_ns = static_cast<std::int64_t>(spec_.metric_interval_s * 1e9);
    const auto end_ns = spec_.start_ns + static_cast<std::int64_t>(spec_.duration_s * 1e9);
    for (std::int64_t now = spec_.start_ns; now < end_ns; now += step_ns) step(now, step_ns);
    for (const auto& f : faults_)
      t_.faults.push_back({f.begin, f.end, simulator_fault_type_id(f.type), pods_[static_cast<std::size_t>(f.pod)].id,
                           ComponentKind::pod});
    t_.sort_by_time();
    return std::move(t_);
  }

 private:
  const SimulatorSpec& spec_;
  std::mt19937_64 rng_;
  Telemetry t_;
  std::vector<Pod> pods_;
  std::vector<std::vector<int>> pods_of_service_;
  std::vector<int> topo_order_;  // callees before callers
  std::vector<double> visits_;
  std::vector<ActiveFault> faults_;
  std::unordered_map<std::string, int> service_index_;
  std::vector<std::int32_t> op_ids_;  // per service, the first op's id; ops are consecutive
  double burst_state_ = 0;

  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  double normal(double sd = 1.0) { return std::normal_distribution<double>(0.0, sd)(rng_); }
  bool chance(double p) { return uniform(0, 1) < p; }
  double exponential(double mean) { return mean <= 0 ? 0 : std::exponential_distribution<double>(1.0 / mean)(rng_); }
  std::uint64_t random_id() { return rng_() | 1; }

  static std::string template_text(const char* tmpl) {
    std::string s = tmpl;
    for (std::size_t p; (p = s.find("{}")) != std::string::npos;) s.replace(p, 2, "<*>");
    return s;
  }

  std::string pod_suffix() {
    static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
    std::string hash = fmt::format("{:010x}", rng_() & 0xffffffffffULL);
    std::string tail;
    for (int i = 0; i < 5; ++i) tail += alphabet[rng_() % 27];
    return hash + "-" + tail;
  }

  void build_topology() {
    validate(spec_);
    for (std::size_t s = 0; s < spec_.services.size(); ++s) service_index_[spec_.services[s].name] = static_cast<int>(s);
    pods_of_service_.resize(spec_.services.size());
    for (std::size_t s = 0; s < spec_.services.size(); ++s) {
      const auto& svc = spec_.services[s];
      op_ids_.push_back(t_.operations.intern(svc.ops[0]));
      for (std::size_t o = 1; o < svc.ops.size(); ++o) t_.operations.intern(svc.ops[o]);
      for (int r = 0; r < svc.replicas; ++r) {
        Pod p;
        p.name = svc.name.rfind("redis", 0) == 0 ? fmt::format("{}-{}", svc.name, r) : svc.name + "-" + pod_suffix();
        p.service = static_cast<int>(s);
        p.node = static_cast<int>(pods_.size()) % spec_.nodes;
        p.id = t_.add_pod(p.name, fmt::format("node-{}", p.node + 1));
        p.batch = chance(0.3);
        pods_of_service_[s].push_back(static_cast<int>(pods_.size()));
        pods_.push_back(p);
      }
    }
    // Topological order (callees first) and expected visits per entry request; the graph must be acyclic.
    std::vector<int> state(spec_.services.size(), 0);
    std::function<void(int)> visit = [&](int s) {
      if (state[s] == 1)
        throw ConfigError("the call graph has a cycle through '" + spec_.services[s].name + "'", "system.calls",
                          "an acyclic call graph");
      if (state[s] == 2) return;
      state[s] = 1;
      for (const auto& [callee, p] : spec_.services[s].calls) visit(service_index_.at(callee));
      state[s] = 2;
      topo_order_.push_back(s);
    };
    for (std::size_t s = 0; s < spec_.services.size(); ++s) visit(static_cast<int>(s));
    visits_.assign(spec_.services.size(), 0.0);
    visits_[service_index_.at(spec_.entry)] = 1.0;
    for (auto it = topo_order_.rbegin(); it != topo_order_.rend(); ++it)  // callers first
      for (const auto& [callee, p] : spec_.services[*it].calls) visits_[service_index_.at(callee)] += visits_[*it] * p;
  }

  void schedule_regimes() {
    for (const auto& r : spec_.regimes) t_.regime_names.push_back(r.name);
    double t = 0;
    int previous = -1;
    while (t < spec_.duration_s) {
      double length = uniform(spec_.segment_min_s, spec_.segment_max_s);
      int regime = static_cast<int>(rng_() % spec_.regimes.size());
      if (regime == previous && spec_.regimes.size() > 1) regime = (regime + 1) % static_cast<int>(spec_.regimes.size());
      t_.regimes.push_back({spec_.start_ns + static_cast<std::int64_t>(t * 1e9),
                            spec_.start_ns + static_cast<std::int64_t>(std::min(t + length, spec_.duration_s) * 1e9),
                            regime});
      previous = regime;
      t += length;
    }
  }

  void schedule_faults() {
    if (spec_.fault_types.empty()) return;
    double t = spec_.fault_warmup_s;
    while (true) {
      // Whole seconds, as fault lists record them (so the Nezha-layout path labels exactly like the direct one).
      double begin = std::floor(t + std::max(60.0, exponential(spec_.fault_mean_gap_s)));
      if (begin + spec_.fault_duration_s > spec_.duration_s) break;
      const std::string& type = spec_.fault_types[rng_() % spec_.fault_types.size()];
      int pod = static_cast<int>(rng_() % pods_.size());
      faults_.push_back({spec_.start_ns + static_cast<std::int64_t>(begin * 1e9),
                         spec_.start_ns + static_cast<std::int64_t>((begin + spec_.fault_duration_s) * 1e9), type, pod});
      t = begin + spec_.fault_duration_s;
    }
  }

  const RegimeSpec& regime_at(std::int64_t now) const {
    for (const auto& r : t_.regimes)
      if (now >= r.begin_ns && now < r.end_ns) return spec_.regimes[static_cast<std::size_t>(r.regime)];
    return spec_.regimes.back();
  }

  std::vector<Effects> effects_at(std::int64_t now) const {
    std::vector<Effects> e(pods_.size());
    for (const auto& f : faults_) {
      if (now < f.begin || now >= f.end) continue;
      Effects& x = e[static_cast<std::size_t>(f.pod)];
      const double progress = static_cast<double>(now - f.begin) / static_cast<double>(f.end - f.begin);
      x.fault = f.type;
      if (f.type == "cpu_stress") {
        x.cpu_extra_m += 900;
        x.slowdown *= 2.5;
      } else if (f.type == "memory_stress") {
        x.memory_extra_mi += 1500 * std::min(1.0, progress * 1.5);
        x.slowdown *= 1.3;
      } else if (f.type == "network_delay") {
        x.delay_into_s += 0.2;
      } else if (f.type == "packet_loss") {
        x.error_into += 0.08;
        x.slowdown *= 1.6;
        x.tx_factor *= 1.3;
      } else if (f.type == "pod_kill") {
        x.down = now - f.begin < 60'000'000'000LL;  // restarted after a minute
        x.restarting = !x.down;
        if (x.restarting) x.slowdown *= 1.5;
      } else if (f.type == "exception") {
        x.own_error += 0.35;
      } else if (f.type == "wrong_return") {
        x.own_error += 0.5;
      } else if (f.type == "disk_io") {
        x.io_factor *= 6;
        x.slowdown *= 1.8;
      }
    }
    return e;
  }

  void log(std::int64_t time, const Pod& pod, LogLevel level, Template tmpl, const std::vector<std::string>& params) {
    std::string joined;
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i) joined += '\x1f';
      joined += params[i];
    }
    t_.logs.push_back({time, pod.id, level, static_cast<std::int32_t>(tmpl), std::move(joined)});
  }

  static std::string log_name(const std::string& op) {
    std::string s = op;
    std::replace(s.begin(), s.end(), ' ', '_');
    return s;
  }

  void step(std::int64_t now, std::int64_t step_ns) {
    const RegimeSpec& regime = regime_at(now);
    const double dt = static_cast<double>(step_ns) / 1e9;
    const double day_phase = 2.0 * M_PI * static_cast<double>((now / 1'000'000'000LL) % 86400) / 86400.0;
    burst_state_ = 0.7 * burst_state_ + 0.3 * normal() * 1.8;
    const double rate = regime.rate_rps * (1.0 + spec_.diurnal_amplitude * std::sin(day_phase)) *
                        std::exp(regime.burstiness * burst_state_) * (1.0 + 0.03 * normal());
    const std::vector<Effects> fx = effects_at(now);

    // Queue state per pod, callees first.
    std::vector<PodState> st(pods_.size());
    std::vector<double> svc_latency(spec_.services.size(), 0), svc_error(spec_.services.size(), 0);
    for (int s : topo_order_) {
      const auto& svc = spec_.services[static_cast<std::size_t>(s)];
      int live = 0;
      for (int p : pods_of_service_[s]) live += !fx[p].down;
      double callee_s = 0, callee_err = 0;
      for (const auto& [callee, prob] : svc.calls) {
        int c = service_index_.at(callee);
        callee_s += prob * svc_latency[c];
        callee_err += prob * svc_error[c];
      }
      double lat_sum = 0, err_sum = 0;
      for (int p : pods_of_service_[s]) {
        PodState& ps = st[p];
        const Effects& e = fx[p];
        if (e.down) continue;
        ps.lambda = rate * visits_[s] / std::max(live, 1);
        const double service_time = svc.service_time_ms / 1000.0 * e.slowdown;
        ps.rho = std::min(ps.lambda * service_time / kWorkers, 0.97);
        ps.own_s = service_time / (1.0 - ps.rho);
        ps.callee_s = callee_s;
        ps.latency_s = ps.own_s + callee_s + e.delay_into_s;  // a delayed interface delays every response
        const double own_err = std::min(1.0, kBaseError + e.own_error + e.error_into);
        ps.error = 1.0 - (1.0 - own_err) * (1.0 - std::min(callee_err, 1.0));
        lat_sum += ps.latency_s;
        err_sum += ps.error;
      }
      svc_latency[s] = live ? lat_sum / live : 1.0;  // all replicas down: callers wait for a 1 s timeout
      svc_error[s] = live ? err_sum / live : 1.0;
    }
    emit_metrics(now, dt, regime, fx, st);
    emit_traces(now, dt, rate, fx, st);
    emit_background_logs(now, dt, regime, fx, st);
  }

  void emit_metrics(std::int64_t now, double dt, const RegimeSpec& regime, const std::vector<Effects>& fx,
                    const std::vector<PodState>& st) {
    std::vector<double> node_cpu(static_cast<std::size_t>(spec_.nodes), 0), node_mem(static_cast<std::size_t>(spec_.nodes), 0),
        node_rx(static_cast<std::size_t>(spec_.nodes), 0);
    std::vector<std::array<double, kKpiCount>> values(pods_.size());
    for (std::size_t p = 0; p < pods_.size(); ++p) {
      Pod& pod = pods_[p];
      const auto& svc = spec_.services[static_cast<std::size_t>(pod.service)];
      const Effects& e = fx[p];
      const PodState& s = st[p];
      auto& v = values[p];
      pod.memory_drift = 0.98 * pod.memory_drift + normal(2.0);
      if (e.restarting) pod.memory_drift = -0.3 * svc.memory_mi;
      const double batch = pod.batch && regime.batch_fraction > 0 ? regime.batch_cpu_m : 0;
      v[kCpu] = std::max(1.0, (20 + s.lambda * svc.cpu_m_per_rps + batch + e.cpu_extra_m) * (1 + 0.05 * normal()));
      v[kCpuRate] = std::min(100.0, v[kCpu] / kCpuLimitM * 100);
      v[kMem] = std::max(10.0, svc.memory_mi + 0.5 * s.lambda + e.memory_extra_mi + pod.memory_drift);
      v[kMemRate] = std::min(100.0, v[kMem] / kMemLimitMi * 100);
      v[kSysRead] = std::round(s.lambda * dt * 8 * e.io_factor * (1 + 0.1 * normal()) + 50);
      v[kSysWrite] = std::round(s.lambda * dt * 5 * e.io_factor * (1 + 0.1 * normal()) + 30);
      v[kRx] = std::max(0.0, s.lambda * 1200 * (1 + 0.05 * normal()) + 500);
      v[kTx] = std::max(0.0, s.lambda * 4800 * e.tx_factor * (1 + 0.05 * normal()) + 500);
      const double jitter = 1 + 0.04 * normal();
      v[kClientP90] = s.callee_s * 2.30 * jitter;
      v[kClientP95] = s.callee_s * 3.00 * jitter;
      v[kClientP99] = s.callee_s * 4.61 * jitter;
      v[kServerP90] = s.latency_s * 2.30 * jitter;
      v[kServerP95] = s.latency_s * 3.00 * jitter;
      v[kServerP99] = s.latency_s * 4.61 * jitter;
      v[kWorkload] = s.lambda;
      v[kSuccess] = (1.0 - s.error) * 100.0;
      node_cpu[static_cast<std::size_t>(pod.node)] += v[kCpu];
      node_mem[static_cast<std::size_t>(pod.node)] += v[kMem];
      node_rx[static_cast<std::size_t>(pod.node)] += v[kRx];
    }
    for (std::size_t p = 0; p < pods_.size(); ++p) {
      if (fx[p].down) continue;  // a killed pod reports nothing
      auto& v = values[p];
      const auto n = static_cast<std::size_t>(pods_[p].node);
      v[kNodeCpu] = std::min(100.0, 8 + node_cpu[n] / kNodeCpuM * 100 + normal(0.5));
      v[kNodeMem] = std::min(100.0, 30 + node_mem[n] / kNodeMemMi * 100 + regime.memory_pressure * 100 + normal(0.3));
      v[kNodeRx] = node_rx[n];
      const bool has_callees = !spec_.services[static_cast<std::size_t>(pods_[p].service)].calls.empty();
      for (int k = 0; k < kKpiCount; ++k) {
        if (!has_callees && (k == kClientP90 || k == kClientP95 || k == kClientP99)) continue;  // NaN in Nezha
        t_.metrics.push_back({now, pods_[p].id, k, static_cast<float>(v[k])});
      }
    }
  }

  // One span and its callees; returns (end time, failed).
  std::pair<std::int64_t, bool> span(int service, std::uint64_t trace, std::uint64_t parent, std::int64_t start,
                                     const std::vector<Effects>& fx, const std::vector<PodState>& st, int depth) {
    const auto& svc = spec_.services[static_cast<std::size_t>(service)];
    std::vector<int> live;
    for (int p : pods_of_service_[service])
      if (!fx[p].down) live.push_back(p);
    if (live.empty()) return {start + 1'000'000'000LL, true};  // connection refused after the client's timeout
    const int p = live[rng_() % live.size()];
    const Pod& pod = pods_[static_cast<std::size_t>(p)];
    const std::uint64_t id = random_id();
    const double own = exponential(st[p].own_s);
    std::int64_t cursor = start + static_cast<std::int64_t>(own * 0.3 * 1e9);
    bool failed = false;
    if (depth < 12) {
      for (const auto& [callee_name, prob] : svc.calls) {
        if (!chance(prob)) continue;
        const int c = service_index_.at(callee_name);
        auto [end, child_failed] = span(c, trace, id, cursor, fx, st, depth + 1);
        const auto waited_ms = fmt::format("{}", (end - cursor) / 1'000'000);
        if (child_failed && chance(0.7)) {
          failed = true;
          const bool callee_down = pods_of_service_[c].size() == 1 && fx[pods_of_service_[c][0]].down;
          if (callee_down)
            log(end, pod, LogLevel::error, kCallRefused, {callee_name, waited_ms});
          else
            log(end, pod, LogLevel::warn, kBadResponseFromCallee, {callee_name, chance(0.5) ? "500" : "503"});
        } else if (end - cursor > 150'000'000 && chance(0.5)) {  // a call slower than 150 ms: the client's timeout
          log(end, pod, LogLevel::warn, kCallTimeout, {callee_name, waited_ms, "1"});
        }
        cursor = end;
      }
    }
    const Effects& e = fx[p];
    const std::int64_t end = cursor + static_cast<std::int64_t>((own * 0.7 + e.delay_into_s) * 1e9) + 20'000;
    const bool own_failure = chance(std::min(1.0, kBaseError + e.own_error + e.error_into));
    failed = failed || own_failure;
    const std::size_t op_offset = rng_() % svc.ops.size();
    const std::int32_t op = op_ids_[static_cast<std::size_t>(service)] + static_cast<std::int32_t>(op_offset);
    const std::int16_t status = failed ? (e.fault == "wrong_return" ? 500 : e.fault == "exception" ? 500 : 503) : 0;
    t_.spans.push_back({trace, id, parent, start, end - start, pod.id, op, status});
    const std::string op_name = log_name(svc.ops[op_offset]);
    const auto ms = fmt::format("{}", (end - start) / 1'000'000);
    if (own_failure && e.fault == "exception")
      log(end, pod, LogLevel::error, kException, {op_name, fmt::format("{}", rng_() % 1000), svc.name + ".handle"});
    else if (own_failure && e.fault == "wrong_return")
      log(end, pod, LogLevel::error, kBadReturn, {op_name, "500", fmt::format("{{code:{}}}", rng_() % 90 + 10)});
    else if (static_cast<double>(end - start) / 1e9 > 3.0 * (st[p].latency_s + 1e-4) && chance(0.6))
      log(end, pod, LogLevel::warn, kSlowRequest, {op_name, ms, fmt::format("{}", static_cast<int>(st[p].latency_s * 3000) + 1)});
    else if (chance(spec_.log_probability))
      log(end, pod, LogLevel::info, kRequestDone, {op_name, ms, fmt::format("{:016x}", trace)});
    return {end, failed};
  }

  void emit_traces(std::int64_t now, double dt, double rate, const std::vector<Effects>& fx,
                   const std::vector<PodState>& st) {
    const double mean = rate * dt * spec_.trace_sample_rate;
    const int traces = mean > 0 ? std::poisson_distribution<int>(mean)(rng_) : 0;
    const auto step_ns = static_cast<std::int64_t>(dt * 1e9);
    const int entry = service_index_.at(spec_.entry);
    for (int i = 0; i < traces; ++i) {
      const std::int64_t start = now + static_cast<std::int64_t>(uniform(0, 1) * static_cast<double>(step_ns));
      span(entry, random_id(), 0, start, fx, st, 0);
    }
  }

  void emit_background_logs(std::int64_t now, double dt, const RegimeSpec& regime, const std::vector<Effects>& fx,
                            const std::vector<PodState>& st) {
    for (std::size_t p = 0; p < pods_.size(); ++p) {
      const Pod& pod = pods_[p];
      const Effects& e = fx[p];
      if (e.down) continue;
      auto at = [&] { return now + static_cast<std::int64_t>(uniform(0, dt) * 1e9); };
      const auto& svc = spec_.services[static_cast<std::size_t>(pod.service)];
      const double heap = svc.memory_mi + e.memory_extra_mi;
      if (chance(std::min(1.0, 0.15 + regime.memory_pressure * 2 + (e.memory_extra_mi > 0 ? 0.6 : 0))))
        log(at(), pod, LogLevel::info, kGcPause,
            {fmt::format("{}", static_cast<int>(exponential(8 + regime.memory_pressure * 60 + e.memory_extra_mi / 40) + 1)),
             fmt::format("{}", static_cast<int>(heap))});
      if (chance(0.05)) log(at(), pod, LogLevel::info, kHealth, {fmt::format("{}", (now - spec_.start_ns) / 1'000'000'000)});
      if (e.memory_extra_mi > 300 && chance(0.7))
        log(at(), pod, LogLevel::warn, kMemoryHigh, {fmt::format("{}", static_cast<int>(heap)), "2048"});
      if (e.io_factor > 1 && chance(0.8))
        log(at(), pod, LogLevel::warn, kSlowDisk, {fmt::format("{}", static_cast<int>(exponential(250) + 50)), "/data"});
      if (st[p].rho > 0.6 && chance(0.7))
        log(at(), pod, LogLevel::warn, kQueueLong,
            {fmt::format("{}", static_cast<int>(st[p].rho * 40)), fmt::format("{}", static_cast<int>(kWorkers))});
      if (e.restarting && chance(0.5))
        log(at(), pod, LogLevel::info, kStarted, {svc.name, fmt::format("{:.1f}", uniform(4, 12))});
    }
  }
};

}  // namespace

Telemetry simulate(const SimulatorSpec& spec) { return Simulation(spec).run(); }

}  // namespace rslicer::data
