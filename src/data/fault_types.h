// The canonical fault taxonomy (docs/design.md §7): the 15 AIOps 2022 failure types under English names, plus the
// code-level faults of Nezha, ART and the simulator. Every store uses this one list, so type ids agree across
// systems (needed to evaluate on a held-out system).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rslicer::data {

const std::vector<std::string>& canonical_fault_types();

// Index into canonical_fault_types() of a name as found in a data set: canonical names, Nezha's
// (cpu_contention, network_delay, exception, return, cpu_consumed), AIOps 2022's Chinese names, ART's English
// descriptions, Chaos Mesh kinds (StressChaos/cpu, NetworkChaos/delay, PodChaos/pod-kill ...). -1 when unknown.
std::int16_t fault_type_id(const std::string& name);

}  // namespace rslicer::data
