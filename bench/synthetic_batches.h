// The training benchmarks' work (train_bench, scaling_bench): the tiny Qwen3 of configs/model/tiny.yaml with the
// real vocabulary, and synthetic token batches of three modalities that are the same on every run and match what
// bench/reference/ddp_train.py builds (same lengths rule), so ours and the reference do the same work.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/allocator.h"
#include "data/loader.h"
#include "model/runtime_slicer.h"

namespace rslicer::bench {

// The malloc policy `rslicer pretrain` applies on a CPU trainer (configs/trainer/cpu.yaml), so that the benchmarks
// measure the process as training runs it.
inline void apply_cpu_trainer_allocator() {
  const YAML::Node a = YAML::LoadFile(RSLICER_SOURCE_CONFIG_DIR "/trainer/cpu.yaml")["allocator"];
  apply_allocator_policy({a["mmap_threshold_mb"].as<std::size_t>() << 20, a["trim_threshold_mb"].as<std::size_t>() << 20});
}

// configs/model/tiny.yaml, with the real 151,669-token vocabulary; fusion 256 -> 128 with gating.
inline model::RuntimeSlicer tiny_model(std::uint64_t seed = 0) {
  model::Qwen3Config c;
  c.vocab_size = 151669;
  c.hidden_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.intermediate_size = 384;
  model::RuntimeSlicer m(c, model::FusionConfig{256, 128, true});
  m->reset_parameters(seed);
  return m;
}

// Real tokens of sequence `i` (of the 3 * batch of a rank's step): seq - floor(u * 2 * padding * seq), u in [0, 1)
// from a hash of (step, rank, i); the same integer rule as bench/reference/ddp_train.py.
inline std::int64_t sequence_length(std::uint64_t step, int rank, std::int64_t i, std::int64_t seq, double padding) {
  const std::uint64_t h = (static_cast<std::uint64_t>(i) * 2654435761ULL + step * 40503ULL + static_cast<std::uint64_t>(rank) * 7919ULL) % 1000ULL;
  const auto cut = static_cast<std::int64_t>(static_cast<double>(h) / 1000.0 * 2.0 * padding * static_cast<double>(seq));
  return std::max<std::int64_t>(1, seq - cut);
}

// Which token ids a batch holds. Uniform over the vocabulary (what bench/reference/ddp_train.py draws), or Zipf:
// id k - 1 with probability proportional to 1 / k^s, low ids the common ones as in a BPE vocabulary. Real
// telemetry is far from uniform: 1,528 tokens of Nezha Train-Ticket windows hold 84 distinct ids, and so does a
// Zipf draw with s = 1.8 (uniform: ~1,520).
class TokenIds {
 public:
  static TokenIds uniform() { return TokenIds(); }
  static TokenIds zipf(double s, std::int64_t vocab = 151669) {
    TokenIds t;
    t.cdf_.resize(static_cast<std::size_t>(vocab));
    double sum = 0;
    for (std::int64_t k = 0; k < vocab; ++k) t.cdf_[static_cast<std::size_t>(k)] = sum += std::pow(static_cast<double>(k + 1), -s);
    for (double& c : t.cdf_) c /= sum;
    return t;
  }
  std::int64_t draw(std::mt19937_64& rng) const {
    if (cdf_.empty()) return std::uniform_int_distribution<std::int64_t>(0, 151668)(rng);
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto at = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return std::min<std::int64_t>(at, static_cast<std::int64_t>(cdf_.size()) - 1);
  }

 private:
  std::vector<double> cdf_;  // empty: uniform
};

inline data::TokenBatch random_tokens(std::mt19937_64& rng, std::int64_t batch, std::int64_t seq, std::uint64_t step, int rank,
                               std::int64_t first, double padding, const TokenIds& ids) {
  data::TokenBatch t;
  t.batch = batch;
  t.length = seq;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto real = sequence_length(step, rank, first + b, seq, padding);
    for (std::int64_t j = 0; j < seq; ++j) {
      t.ids.push_back(j < seq - real ? 0 : ids.draw(rng));
      t.mask.push_back(j < seq - real ? 0 : 1);
    }
  }
  return t;
}

// The same batches on every run: seeded by (step, rank); windows overlap their neighbours (temporal loss pairs).
inline data::Batch synthetic_batch(std::uint64_t step, int rank, std::int64_t batch, std::int64_t seq, double padding,
                                   const TokenIds& ids = TokenIds::uniform()) {
  std::mt19937_64 rng(step * 1000003 + static_cast<std::uint64_t>(rank));
  data::Batch b;
  b.step = step;
  b.metrics = random_tokens(rng, batch, seq, step, rank, 0, padding, ids);
  b.traces = random_tokens(rng, batch, seq, step, rank, batch, padding, ids);
  b.logs = random_tokens(rng, batch, seq, step, rank, 2 * batch, padding, ids);
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::int64_t global = rank * batch + i;
    b.samples.push_back({0, static_cast<std::uint32_t>(global)});
    b.begin_ns.push_back(global * 30'000'000'000LL);
    b.end_ns.push_back(global * 30'000'000'000LL + 60'000'000'000LL);
    b.labels.push_back(-1);
  }
  return b;
}

}  // namespace rslicer::bench
