// Sequence packing (torch-free): places sequences of different lengths into rows of a fixed capacity so that the
// model computes no padding. First-fit decreasing: sequences sorted by length, longest first (ties by index, so
// the plan is deterministic), each into the first row with room. Each packed row holds whole sequences one after
// another; attention is block-diagonal (a token sees only earlier tokens of its own sequence) and RoPE positions
// restart at 0 for each sequence, so every sequence's hidden states are those it has alone (docs/design.md §4 semantics).
#pragma once

#include <cstdint>
#include <vector>

namespace rslicer::model {

struct PackedSlot {
  std::int64_t row = 0, offset = 0, length = 0;  // where the sequence lies in the packed batch
};

struct PackingPlan {
  std::int64_t rows = 0, capacity = 0;
  std::vector<PackedSlot> slots;  // one per input sequence, in input order
  std::int64_t tokens() const;    // real tokens placed
  double padding_fraction() const;  // 1 - tokens / (rows * capacity)
};

// lengths: real tokens of each sequence (each <= capacity, > 0 expected; 0-length sequences get a slot of length 0).
PackingPlan plan_packing(const std::vector<std::int64_t>& lengths, std::int64_t capacity);

}  // namespace rslicer::model
