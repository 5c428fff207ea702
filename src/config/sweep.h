// Multirun expansion, as Hydra's basic sweeper: every sweep override (a,b,c / choice / range / glob) is cut into
// one override per value, and the jobs are the cartesian product in the order the overrides were given (the
// first varies slowest), numbered 0..N-1. interval() is for sampling sweepers only and is refused here.
#pragma once

#include <string>
#include <vector>

namespace rslicer::config {

class Composer;

// Jobs, each a list of plain overrides.
std::vector<std::vector<std::string>> expand_sweeps(const std::vector<std::string>& overrides,
                                                    const Composer& composer);

// The values of range(start, stop, step) as Python's range (floats allowed, as Hydra does).
std::vector<std::string> range_values(double start, double stop, double step, bool integer);

}  // namespace rslicer::config
