// Data-parallel pre-training steps: for each micro-batch, encode (one backbone call over the three modalities),
// compute the global-batch losses, backward (the reducer all-reduces gradient buckets as they fill, on the final
// micro-step only), then clip, AdamW with linear warmup + cosine decay, and report the step's figures.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "losses/losses.h"
#include "model/runtime_slicer.h"

namespace rslicer::train {

struct TrainOptions {
  std::int64_t max_steps = 100;
  std::int64_t grad_accum = 1;  // micro-batches per optimizer step
  double lr = 3e-4, weight_decay = 0.01, min_lr_ratio = 0.1, grad_clip = 1.0, adam_eps = 1e-8;
  std::int64_t warmup_steps = 10;
  bool learnable_temperature = false;
  losses::LossOptions loss;
  dist::ReducerOptions reducer;
};

struct StepStats {
  std::int64_t step = 0;
  double loss = 0, modal = 0, temporal = 0, anomaly = 0, lr = 0, grad_norm = 0;
  std::size_t windows = 0, tokens = 0;  // this rank's
  double seconds = 0, comm_wait_seconds = 0;
};

// A batch as tensors (CPU).
struct BatchTensors {
  model::TokenTensors metrics, traces, logs;
  torch::Tensor begin_ns, end_ns, labels;
};
BatchTensors to_tensors(const data::Batch& batch);
model::TokenTensors to_tensors(const data::TokenBatch& tokens);

class Trainer {
 public:
  Trainer(model::RuntimeSlicer model, dist::Communicator& comm, TrainOptions options);

  // One optimizer step over `micro_batches` (grad_accum of them). Returns this step's figures.
  StepStats step(const std::vector<data::Batch>& micro_batches);
  // Losses of a batch without gradients (validation).
  losses::LossTerms evaluate(const data::Batch& batch);
  double lr_at(std::int64_t step) const;

  std::int64_t steps_done() const { return step_; }
  model::RuntimeSlicer& model() { return model_; }
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  std::vector<torch::Tensor> trainable_parameters() const { return params_; }
  // Makes every rank's parameters equal to rank 0's.
  void broadcast_parameters();

 private:
  model::RuntimeSlicer model_;
  dist::Communicator& comm_;
  TrainOptions options_;
  torch::Tensor logit_scale_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  std::int64_t step_ = 0;

  losses::LossTerms forward_loss(const BatchTensors& b);
};

}  // namespace rslicer::train
