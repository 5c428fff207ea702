// The typed configs of the post-training commands (embed, cluster, tune, evaluate): each read once from its
// composed config (configs/<command>.yaml), every key checked where it is read (a ConfigError names it). The
// defaults live in the YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/serializer.h"
#include "model/autocast.h"
#include "tuning/split.h"
#include "tuning/state_models.h"
#include "tuning/tsne.h"

namespace rslicer::cli {

struct EmbedConfig {
  std::uint64_t seed = 0;
  int intra_op_threads = 0;
  std::optional<std::string> release;  // null: the untrained backbone (the baseline)
  // How to compute, not what (not in releases): model.*.
  bool pack_sequences = false;
  std::string fused_attention;
  model::Precision precision = model::Precision::fp32;
  std::vector<std::string> stores;
  std::size_t batch_size = 0;
  data::SerializerOptions serializer;  // max_tokens is embed.max_tokens
  // The split the embeddings will be evaluated with: its tuning side's labels are all the metric baseline may read
  // (serializer.metric_baseline); cluster, tune and evaluate refuse a split that tests a window whose label it read.
  tuning::SplitOptions split;
  bool components = false;             // pod-level embeddings (failure localization)
  std::string component_embedding;     // state | text
  std::size_t normal_stride = 0, before_fault = 0;
  std::string out;
};

struct ClusterConfig {
  std::string embeddings, out;
  tuning::SplitOptions split;
  std::string method;  // kmeans | gmm
  std::uint64_t seed = 0;
  int k = 0;  // 0: chosen over k_range
  std::int64_t k_min = 0, k_max = 0;
  std::string windows = "normal";  // all | normal: the training windows the states are found in
  bool per_system = true;         // each system's states found apart
  std::int64_t min_windows = 20;  // a chosen K is at most the training windows / min_windows
};

struct TuneConfig {
  std::string embeddings, clusters, out;
  tuning::SplitOptions split;
  tuning::TuneOptions options;
};

struct EvaluateConfig {
  struct Run {
    std::string embeddings, models;
    std::optional<std::string> clusters;
  };
  Run trained;
  std::optional<Run> baseline;  // baseline.embeddings set
  tuning::SplitOptions split;
  bool plots = false;
  std::size_t tsne_max_points = 0;
  tuning::TsneOptions tsne;
};

EmbedConfig read_embed_config(const config::Config& cfg);
ClusterConfig read_cluster_config(const config::Config& cfg);
TuneConfig read_tune_config(const config::Config& cfg);
EvaluateConfig read_evaluate_config(const config::Config& cfg);

}  // namespace rslicer::cli
