// rslicer pretrain's typed config (train/pretrain_config.h): read once from the composed config, every value from
// the YAML (an override reaches its field), and a bad value refused with the key named.
#include <gtest/gtest.h>

#include "config/composer.h"
#include "core/error.h"
#include "train/pretrain_config.h"

using namespace rslicer;

namespace {

train::PretrainConfig composed(std::vector<std::string> overrides) {
  config::Composer composer(std::string(RSLICER_SOURCE_DIR) + "/configs");
  overrides.push_back("data.stores=[/data/a.h5]");  // mandatory (??? in configs/pretrain.yaml)
  const YAML::Node root = composer.compose({"pretrain", std::move(overrides)});
  return train::read_pretrain_config(config::Config(config::job_config(root)), "/runs/x");
}

std::string error_of(std::vector<std::string> overrides) {
  try {
    composed(std::move(overrides));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PretrainConfig, EveryFieldComesFromTheComposedConfig) {
  const auto c = composed({"train.lr=0.123", "train.grad_accum=3", "train.global_batch=48", "loss.temperature=0.3",
                           "loader.max_tokens=77", "train.balance.enabled=true", "train.balance.smoothing=0.7",
                           "checkpoint.keep_last=9", "train.stop_after_steps=4", "train.cached_loss.enabled=true",
                           "train.cached_loss.chunk_windows=5", "dist.backend=mpi", "loader.worker_cpus=[0,1]",
                           "train.epochs=2.5", "train.resume=auto", "loss.lambda_neighbourhood=0.25",
                           "loss.neighbourhood_s=900", "loader.serializer.caller_wait=true"});
  EXPECT_DOUBLE_EQ(c.train.lr, 0.123);
  EXPECT_EQ(c.train.grad_accum, 3);
  EXPECT_EQ(c.global_batch, 48u);
  EXPECT_DOUBLE_EQ(c.train.loss.temperature, 0.3);
  EXPECT_DOUBLE_EQ(c.train.loss.lambda_neighbourhood, 0.25);
  EXPECT_DOUBLE_EQ(c.train.loss.neighbourhood_s, 900);
  EXPECT_TRUE(c.loader.serializer.caller_wait);
  EXPECT_EQ(c.loader.serializer.max_tokens, 77u);
  ASSERT_TRUE(c.balance.has_value());
  EXPECT_DOUBLE_EQ(c.balance->smoothing, 0.7);
  EXPECT_EQ(c.checkpoint.keep_last, 9);
  EXPECT_EQ(c.checkpoint.root, std::filesystem::path("/runs/x/checkpoints"));
  EXPECT_EQ(c.loop.stop_after_steps, 4);
  EXPECT_EQ(c.train.cached_chunk_windows, 5);
  EXPECT_EQ(c.backend, "mpi");
  EXPECT_EQ(c.worker_cpus.mode, "list");
  EXPECT_EQ(c.worker_cpus.list, (std::vector<int>{0, 1}));
  ASSERT_TRUE(c.epochs.has_value());
  EXPECT_DOUBLE_EQ(*c.epochs, 2.5);
  EXPECT_EQ(c.resume, std::optional<std::string>("auto"));

  const auto defaults = composed({});
  EXPECT_FALSE(defaults.balance.has_value());  // train.balance.enabled: false in configs/pretrain.yaml
  EXPECT_EQ(defaults.loop.stop_after_steps, 0);
  EXPECT_EQ(defaults.train.cached_chunk_windows, 0);
  EXPECT_FALSE(defaults.resume.has_value());
}

TEST(PretrainConfig, BadValuesNameTheirKey) {
  EXPECT_NE(error_of({"train.nonfinite=maybe"}).find("train.nonfinite"), std::string::npos);
  EXPECT_NE(error_of({"loader.worker_cpus=somewhere"}).find("loader.worker_cpus"), std::string::npos);
  EXPECT_NE(error_of({"train.cached_loss.enabled=true", "train.cached_loss.chunk_windows=0"})
                .find("train.cached_loss.chunk_windows"), std::string::npos);
  EXPECT_NE(error_of({"train.global_batch=0"}).find("train.global_batch"), std::string::npos);
  EXPECT_NE(error_of({"train.trainer.optimizer_kernel=gpu_magic"}).find("optimizer_kernel"), std::string::npos);
  EXPECT_NE(error_of({"loss.neighbourhood_s=0"}).find("loss.neighbourhood_s"), std::string::npos);
  EXPECT_NE(error_of({"loss.temperature=0"}).find("loss.temperature"), std::string::npos);
  EXPECT_NE(error_of({"loss.lambda_temp=-0.5"}).find("loss.lambda_temp"), std::string::npos);
  EXPECT_NE(error_of({"loss.lambda_neighbourhood=-1"}).find("loss.lambda_neighbourhood"), std::string::npos);
  EXPECT_NE(error_of({"loss.delta=1.5"}).find("loss.delta"), std::string::npos);
  EXPECT_NE(error_of({"loss.gamma=-2"}).find("loss.gamma"), std::string::npos);
  EXPECT_TRUE(error_of({"loss.lambda_anom=0", "loss.gamma=-1"}).empty());  // the edges of the ranges are accepted
}
