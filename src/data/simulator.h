// A microservice telemetry simulator with ground truth: the embedded default data set.
//
// Model. Requests arrive at the entry service at a rate set by the current workload regime (traffic tiers,
// bursts, batch jobs, memory pressure; the regime is the ground-truth runtime state) times a diurnal cycle. Each
// service's arrival rate is the entry rate times its expected visits per request (the call graph with per-call
// probabilities). A pod is a queue with utilisation rho = lambda * S / workers; its own latency is
// S / (1 - rho); a service's latency adds its callees' (and any injected network delay); errors propagate to
// callers. CPU, memory, syscalls, network bytes, latency percentiles (exponential tail), throughput and success
// rate come from this state; traces follow sampled call paths with durations from the same model; logs come
// from per-service templates, with WARN/ERROR lines under slowness and faults.
//
// Faults (Chaos Mesh-like): cpu_stress, memory_stress, network_delay, packet_loss, pod_kill, exception,
// wrong_return, disk_io, on one pod for a duration; effects propagate along the call graph.
// Deterministic for a seed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/telemetry.h"

namespace rslicer::data {

struct ServiceSpec {
  std::string name;
  int replicas = 1;
  double service_time_ms = 5;
  double cpu_m_per_rps = 1.0;
  double memory_mi = 100;
  std::vector<std::string> ops;
  std::vector<std::pair<std::string, double>> calls;  // callee, probability per request
};

struct RegimeSpec {
  std::string name;
  double rate_rps = 50;
  double burstiness = 0.05;      // 0: steady; near 1: heavy lognormal spikes
  double batch_cpu_m = 0;        // background batch CPU on a fraction of pods
  double batch_fraction = 0;
  double memory_pressure = 0;    // extra node memory utilisation
};

struct SimulatorSpec {
  std::string system;
  int nodes = 4;
  std::string entry;
  std::vector<ServiceSpec> services;
  std::vector<RegimeSpec> regimes;
  double segment_min_s = 900, segment_max_s = 2700, diurnal_amplitude = 0.25;
  std::int64_t start_ns = 0;
  double duration_s = 3600;
  double metric_interval_s = 15;
  double trace_sample_rate = 0.01;
  double log_probability = 0.3;
  std::vector<std::string> fault_types;
  double fault_mean_gap_s = 1200, fault_duration_s = 300, fault_warmup_s = 900;
  std::uint64_t seed = 0;
};

// The simulator's fault names, and their canonical type ids.
const std::vector<std::string>& simulator_fault_types();
std::int16_t simulator_fault_type_id(const std::string& name);  // -1 when unknown

// Checks the spec (call graph acyclic, callees and entry exist, rates positive); throws ConfigError.
void validate(const SimulatorSpec& spec);

// Runs the simulation. Logs carry the simulator's own templates (log_templates) and parameters.
Telemetry simulate(const SimulatorSpec& spec);

}  // namespace rslicer::data
