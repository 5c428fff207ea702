// `rslicer simulate`: the built-in telemetry simulator, to a window store or to raw files in Nezha's layout.
#pragma once

#include "cli/command.h"
#include "data/simulator.h"

namespace rslicer::cli {

// "3600", "90m", "6h", "2d" -> seconds.
double parse_duration_s(const std::string& text, const std::string& key);
data::SimulatorSpec simulator_spec(const config::Config& cfg);
void run_simulate(const JobContext& ctx);

}  // namespace rslicer::cli
