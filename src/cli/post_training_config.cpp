#include "cli/post_training_config.h"

#include <algorithm>

#include "core/error.h"
#include "train/pretrain_config.h"

namespace rslicer::cli {

namespace {

std::size_t at_least(const config::Config& cfg, const std::string& key, std::int64_t least) {
  return static_cast<std::size_t>(std::max(least, cfg.get_int(key)));
}

}  // namespace

EmbedConfig read_embed_config(const config::Config& cfg) {
  EmbedConfig c;
  c.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  c.intra_op_threads = static_cast<int>(cfg.get_int("embed.intra_op_threads"));
  c.release = cfg.get_optional_string("embed.release");
  c.pack_sequences = cfg.get_bool("model.pack_sequences");
  c.fused_attention = cfg.get_string("model.fused_attention");
  c.precision = model::parse_precision(cfg.get_string("model.precision"));
  c.stores = cfg.get_string_list("data.stores");
  c.batch_size = at_least(cfg, "embed.batch_size", 1);
  c.serializer = train::read_serializer_options(cfg, "embed");
  c.split = tuning::split_options(cfg);
  c.components = cfg.get_bool("embed.components.enabled");
  c.component_embedding = cfg.get_string("embed.components.embedding");
  if (c.component_embedding != "state" && c.component_embedding != "text")
    throw ConfigError("unknown component embedding '" + c.component_embedding + "'", "embed.components.embedding",
                      "state or text");
  c.normal_stride = at_least(cfg, "embed.components.normal_stride", 1);
  c.before_fault = at_least(cfg, "embed.components.before_fault", 0);
  c.out = cfg.get_string("out");
  return c;
}

ClusterConfig read_cluster_config(const config::Config& cfg) {
  ClusterConfig c;
  c.embeddings = cfg.get_string("embeddings");
  c.out = cfg.get_string("out");
  c.split = tuning::split_options(cfg);
  c.method = cfg.get_string("cluster.method");
  if (c.method != "kmeans" && c.method != "gmm")
    throw ConfigError("unknown method '" + c.method + "'", "cluster.method", "kmeans or gmm");
  c.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  c.k = cfg.is_null("cluster.k") ? 0 : static_cast<int>(cfg.get_int("cluster.k"));
  const auto range = cfg.get_int_list("cluster.k_range");
  if (range.size() != 2 || range[0] < 1 || range[1] < range[0])
    throw ConfigError("cluster.k_range of " + std::to_string(range.size()) + " value(s)", "cluster.k_range",
                      "[smallest K, largest K], 1 <= smallest <= largest");
  c.k_min = range[0];
  c.k_max = range[1];
  c.windows = cfg.get_string("cluster.windows");
  if (c.windows != "all" && c.windows != "normal")
    throw ConfigError("unknown window set '" + c.windows + "'", "cluster.windows", "all or normal");
  c.per_system = cfg.get_bool("cluster.per_system");
  c.min_windows = cfg.get_int("cluster.min_windows");
  if (c.min_windows < 1)
    throw ConfigError("cluster.min_windows " + std::to_string(c.min_windows), "cluster.min_windows", "at least 1");
  return c;
}

TuneConfig read_tune_config(const config::Config& cfg) {
  TuneConfig c;
  c.embeddings = cfg.get_string("embeddings");
  c.clusters = cfg.get_string("clusters");
  c.out = cfg.get_string("out");
  c.split = tuning::split_options(cfg);
  auto& o = c.options;
  o.shrinkage = cfg.get_double("tune.shrinkage");
  o.quantile = cfg.get_double("tune.quantile");
  o.min_state_windows = static_cast<std::size_t>(cfg.get_int("tune.min_state_windows"));
  o.history_windows = static_cast<std::size_t>(cfg.get_int("tune.history_windows"));
  const auto ad_folds = cfg.get_int("tune.ad_folds");
  if (ad_folds < 1) throw ConfigError("tune.ad_folds " + std::to_string(ad_folds), "tune.ad_folds", "at least 1 (1: in-sample)");
  o.ad_folds = static_cast<std::size_t>(ad_folds);
  o.reference_windows = static_cast<std::size_t>(cfg.get_int("tune.reference_windows"));
  o.fl_callee_discount = cfg.get_double("tune.fl_callee_discount");
  o.threshold = cfg.get_string("tune.threshold");
  o.fc_signature = cfg.get_string("tune.fc_signature");
  o.fc_model = cfg.get_string("tune.fc_model");
  o.fc_evidence = cfg.get_string("tune.fc_evidence");
  o.fc_embedding = cfg.get_string("tune.fc_embedding");
  o.fc_move = cfg.get_string("tune.fc_move");
  o.ad_reference = cfg.get_string("tune.ad_reference");
  tuning::check_tune_options(o);
  return c;
}

EvaluateConfig read_evaluate_config(const config::Config& cfg) {
  EvaluateConfig c;
  c.trained = {cfg.get_string("embeddings"), cfg.get_string("models"), cfg.get_optional_string("clusters")};
  if (!cfg.is_null("baseline.embeddings"))
    c.baseline = EvaluateConfig::Run{cfg.get_string("baseline.embeddings"), cfg.get_string("baseline.models"),
                                     cfg.get_optional_string("baseline.clusters")};
  c.split = tuning::split_options(cfg);
  c.plots = cfg.get_bool("plots");
  c.tsne_max_points = static_cast<std::size_t>(cfg.get_int("tsne.max_points"));
  c.tsne.perplexity = cfg.get_double("tsne.perplexity");
  c.tsne.iterations = static_cast<int>(cfg.get_int("tsne.iterations"));
  c.tsne.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  return c;
}

}  // namespace rslicer::cli
