// Overlapping windows over the time-sorted streams, as index ranges (no copies), with labels (docs/design.md §7):
// abnormal if the window overlaps a fault interval [begin, end); its fault is the one with the largest overlap;
// unknown (-1) when the source has no labels. A window with a modality missing keeps a mask bit cleared.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "data/telemetry.h"

namespace rslicer::data {

enum ModalityBit : std::uint8_t { kMetricBit = 1, kTraceBit = 2, kLogBit = 4 };

struct WindowingOptions {
  std::int64_t length_ns = 60'000'000'000;
  std::int64_t stride_ns = 30'000'000'000;
};

struct Window {
  std::int64_t begin_ns = 0, end_ns = 0;
  std::int8_t label = -1;   // -1 unknown, 0 normal, 1 abnormal
  std::int32_t fault = -1;  // index into the faults, -1 none
  std::int32_t regime = -1; // ground-truth workload regime (simulator), -1 unknown
  std::array<std::int64_t, 2> metric_range{0, 0}, span_range{0, 0}, log_range{0, 0};  // [first, last)
  std::uint8_t modality_mask = 0;
};

// Windows from the first to the last event; streams must be sorted by time.
std::vector<Window> make_windows(const Telemetry& telemetry, const WindowingOptions& options);

// Labels and faults of `windows` by the rule above.
void label_windows(std::vector<Window>& windows, const std::vector<Fault>& faults, bool labels_known);

// Overlap of two windows over the window length, in [0, 1] (the temporal loss's omega).
double overlap_ratio(const Window& a, const Window& b);

}  // namespace rslicer::data
