// The post-training commands' typed configs (cli/post_training_config.h): every value from the composed config
// (an override reaches its field), and a bad value refused with its key named.
#include <gtest/gtest.h>

#include "cli/post_training_config.h"
#include "config/composer.h"
#include "core/error.h"

using namespace rslicer;

namespace {

config::Config composed(const std::string& command, std::vector<std::string> overrides) {
  config::Composer composer(std::string(RSLICER_SOURCE_DIR) + "/configs");
  return config::Config(config::job_config(composer.compose({command, std::move(overrides)})));
}

template <typename Read>
std::string error_of(Read read, const std::string& command, std::vector<std::string> overrides) {
  try {
    read(composed(command, std::move(overrides)));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PostTrainingConfig, EveryFieldComesFromTheComposedConfig) {
  const auto embed = cli::read_embed_config(composed(
      "embed", {"data.stores=[/a.h5,/b.h5]", "embed.release=/r", "embed.max_tokens=96", "embed.batch_size=7",
                "embed.components.embedding=text", "embed.components.normal_stride=0", "out=/e.h5", "seed=5"}));
  EXPECT_EQ(embed.stores, (std::vector<std::string>{"/a.h5", "/b.h5"}));
  EXPECT_EQ(embed.release, std::optional<std::string>("/r"));
  EXPECT_EQ(embed.serializer.max_tokens, 96u);
  EXPECT_EQ(embed.batch_size, 7u);
  EXPECT_EQ(embed.component_embedding, "text");
  EXPECT_EQ(embed.normal_stride, 1u);  // at least every window's own stride of 1
  EXPECT_EQ(embed.out, "/e.h5");
  EXPECT_EQ(embed.seed, 5u);

  const auto cluster = cli::read_cluster_config(composed("cluster", {"embeddings=/e.h5", "cluster.method=gmm",
                                                                     "cluster.k_range=[3,5]", "split=system"}));
  EXPECT_EQ(cluster.method, "gmm");
  EXPECT_EQ(cluster.k, 0);
  EXPECT_EQ(cluster.k_min, 3);
  EXPECT_EQ(cluster.k_max, 5);
  EXPECT_EQ(cluster.split.by, "system");
  EXPECT_EQ(cluster.windows, "normal");
  EXPECT_TRUE(cluster.per_system);
  EXPECT_EQ(cluster.min_windows, 20);
  const auto together = cli::read_cluster_config(
      composed("cluster", {"embeddings=/e.h5", "cluster.windows=all", "cluster.per_system=false"}));
  EXPECT_EQ(together.windows, "all");
  EXPECT_FALSE(together.per_system);

  const auto tune = cli::read_tune_config(
      composed("tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.quantile=0.9", "tune.fc_signature=state_and_culprit"}));
  EXPECT_DOUBLE_EQ(tune.options.quantile, 0.9);
  EXPECT_EQ(tune.options.fc_signature, "state_and_culprit");
  EXPECT_EQ(tune.options.ad_reference, "auto");
  EXPECT_EQ(tune.options.fc_embedding, "modalities");
  EXPECT_EQ(tune.options.fc_move, "displacement");
  EXPECT_DOUBLE_EQ(tune.options.fl_callee_discount, 1.0);
  EXPECT_EQ(tune.clusters, "/c.json");

  const auto evaluate = cli::read_evaluate_config(composed(
      "evaluate", {"embeddings=/e.h5", "models=/m.json", "baseline.embeddings=/b.h5", "baseline.models=/bm.json",
                   "plots=false", "tsne.perplexity=12"}));
  EXPECT_EQ(evaluate.trained.models, "/m.json");
  EXPECT_FALSE(evaluate.trained.clusters.has_value());
  ASSERT_TRUE(evaluate.baseline.has_value());
  EXPECT_EQ(evaluate.baseline->embeddings, "/b.h5");
  EXPECT_FALSE(evaluate.plots);
  EXPECT_DOUBLE_EQ(evaluate.tsne.perplexity, 12);
  EXPECT_FALSE(cli::read_evaluate_config(composed("evaluate", {"embeddings=/e.h5", "models=/m.json"})).baseline);
}

TEST(PostTrainingConfig, BadValuesNameTheirKey) {
  EXPECT_NE(error_of(cli::read_embed_config, "embed", {"data.stores=[/a.h5]", "embed.components.embedding=pixels"})
                .find("embed.components.embedding"), std::string::npos);
  EXPECT_NE(error_of(cli::read_cluster_config, "cluster", {"embeddings=/e.h5", "cluster.method=dbscan"}).find("cluster.method"),
            std::string::npos);
  EXPECT_NE(error_of(cli::read_cluster_config, "cluster", {"embeddings=/e.h5", "cluster.k_range=[5,2]"}).find("cluster.k_range"),
            std::string::npos);
  EXPECT_NE(error_of(cli::read_cluster_config, "cluster", {"embeddings=/e.h5", "cluster.windows=faulty"}).find("cluster.windows"),
            std::string::npos);
  EXPECT_NE(error_of(cli::read_cluster_config, "cluster", {"embeddings=/e.h5", "cluster.min_windows=0"}).find("cluster.min_windows"),
            std::string::npos);
  EXPECT_NE(error_of(cli::read_tune_config, "tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.fc_signature=vibes"})
                .find("tune.fc_signature"), std::string::npos);
  EXPECT_NE(error_of(cli::read_tune_config, "tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.fc_embedding=pixels"})
                .find("tune.fc_embedding"), std::string::npos);
  EXPECT_NE(error_of(cli::read_tune_config, "tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.fc_move=teleport"})
                .find("tune.fc_move"), std::string::npos);
  EXPECT_NE(error_of(cli::read_tune_config, "tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.ad_reference=oracle"})
                .find("tune.ad_reference"), std::string::npos);
  EXPECT_NE(error_of(cli::read_tune_config, "tune", {"embeddings=/e.h5", "clusters=/c.json", "tune.fl_callee_discount=-1"})
                .find("tune.fl_callee_discount"), std::string::npos);
}
