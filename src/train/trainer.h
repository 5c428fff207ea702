// Data-parallel pre-training steps: for each micro-batch, encode (one backbone call over the three modalities),
// compute the global-batch losses, backward (the reducer averages gradient buckets over ranks as they fill, on the
// final micro-step only), then clip, AdamW with linear warmup + cosine decay, and report the step's figures.
// The trainable parameters live in one flat fp32 buffer (FlatParameters). With ZeRO-1 (train.zero1, on by default
// for more than one rank) each rank keeps the AdamW moments of its slice only and updates that slice: the buckets
// are reduce-scattered (each rank receives the average of its slice only) and an all-gather of the updated
// slices then gives every rank the new parameters. Optimizer memory per rank falls as 1/W and the
// result is the same as every rank updating everything (AdamW is element-wise).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "train/data_parallel.h"
#include "train/cached_loss.h"
#include "train/fault_injector.h"
#include "train/flat_adamw.h"
#include "train/flat_parameters.h"
#include "train/optimizer.h"
#include "train/sparse_rows.h"
#include "losses/losses.h"
#include "model/autocast.h"
#include "model/runtime_slicer.h"

namespace rslicer::train {

// The trainer's options. They have no defaults of their own: configs/pretrain.yaml holds them, and
// read_train_options (train/pretrain_config.h) fills every field from a composed config; a field left at its zero
// value is refused where a zero cannot work (grad_accum, nonfinite) or means "off" (warmup, clipping).
struct TrainOptions {
  std::int64_t max_steps = 0;
  std::int64_t grad_accum = 0;  // micro-batches per optimizer step
  double lr = 0, weight_decay = 0, min_lr_ratio = 0, grad_clip = 0, adam_eps = 0;
  std::int64_t warmup_steps = 0;
  bool learnable_temperature = false;
  bool zero1 = false;  // shard the optimizer state over ranks (no effect on one rank)
  // model.precision: bf16 runs the encoder under autocast (fp32 parameters, gradients, optimizer and losses).
  model::Precision precision = model::Precision::fp32;
  bool sparse_embedding = false;  // token-embedding gradient as rows + lazy AdamW (train/sparse_rows.h); CPU only
  // train.trainer.device: where the model, the flat parameters and gradients, the optimizer state, the batches and
  // the losses live (src/train/device.h chooses it and the communicator for its tensors).
  torch::Device device = torch::kCPU;
  OptimizerKernel optimizer_kernel = OptimizerKernel::automatic;  // train/optimizer.h
  // train.cached_loss: > 0 encodes each micro-batch in chunks of this many windows with the cached loss
  // (train/cached_loss.h): one chunk's activations at a time, the same gradients; 0: the direct loss.
  std::int64_t cached_chunk_windows = 0;
  // A step whose loss or global gradient norm is NaN/Inf: "skip" leaves the parameters and optimizer state as they
  // were (the schedule moves on, as PyTorch's GradScaler does) and stops the run after `max_consecutive_skips`;
  // "stop" stops at once. Either way nothing non-finite reaches the parameters or a checkpoint.
  std::string nonfinite;
  std::int64_t max_consecutive_skips = 0;
  losses::LossOptions loss;
  dist::ReducerOptions reducer;
};

struct StepStats {
  std::int64_t step = 0;
  double loss = 0, modal = 0, temporal = 0, anomaly = 0, type = 0, neighbourhood = 0, lr = 0, grad_norm = 0;
  std::size_t windows = 0, tokens = 0;  // this rank's
  double seconds = 0, comm_wait_seconds = 0;
  bool skipped = false;  // non-finite loss or gradient: no update
  // Where the step's time went: forward (+ loss), backward (gradient hooks launch the bucket reductions inside
  // it), the wait for the last buckets, and the optimizer (clip, AdamW, the ZeRO-1 all-gather).
  double forward_seconds = 0, backward_seconds = 0, optimizer_seconds = 0;
  // Forward and backward less the time they spent blocked on collectives: this rank's own work on its windows,
  // its pace for the batch balancer (train/batch_balancer.h).
  double compute_seconds = 0;
};

// A batch as tensors, on the host or moved to the training device (to()).
struct BatchTensors {
  model::TokenTensors metrics, traces, logs;
  torch::Tensor begin_ns, end_ns, labels;
  std::vector<std::int64_t> rows_per_rank;  // every rank's windows when they differ (data::Batch::rank_windows); else empty
  torch::Tensor fault_types;                // canonical fault type id or -1 (data::Batch::fault_types)
  BatchTensors to(torch::Device device) const;
};
BatchTensors to_tensors(const data::Batch& batch);
model::TokenTensors to_tensors(const data::TokenBatch& tokens);

class Trainer {
 public:
  // `faults`: the test hooks (train/fault_injector.h); none by default.
  Trainer(model::RuntimeSlicer model, dist::Communicator& comm, TrainOptions options, FaultInjector faults = {});

  // One optimizer step over `micro_batches` (grad_accum of them). Returns this step's figures.
  StepStats step(const std::vector<data::Batch>& micro_batches);
  // Losses of a batch without gradients (validation).
  losses::LossTerms evaluate(const data::Batch& batch);
  double lr_at(std::int64_t step) const;

  const TrainOptions& options() const { return options_; }
  dist::Communicator& communicator() { return comm_; }
  std::int64_t steps_done() const { return step_; }
  void set_steps_done(std::int64_t steps) { step_ = steps; }
  model::RuntimeSlicer& model() { return model_; }
  std::vector<torch::Tensor> trainable_parameters() const { return params_; }

  // What a checkpoint saves: the flat parameters, and the optimizer, whose state covers the range [begin, end) of
  // them that this rank updates (its ZeRO-1 slice, or everything without ZeRO-1) and counts the updates applied
  // (steps minus skipped ones: AdamW's bias correction counts these).
  FlatParameters& flat() { return *flat_; }
  Optimizer& optimizer() { return *optimizer_; }
  bool zero1() const { return zero1_; }
  // Makes every rank's parameters equal to rank 0's.
  void broadcast_parameters();

 private:
  model::RuntimeSlicer model_;
  dist::Communicator& comm_;
  TrainOptions options_;
  FaultInjector faults_;
  torch::Tensor logit_scale_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<FlatParameters> flat_;
  bool zero1_ = false;
  std::unique_ptr<DataParallel> data_parallel_;  // Ddp or Zero1 (train/data_parallel.h)
  std::unique_ptr<Optimizer> optimizer_;         // over data_parallel_'s owned range

  // The named steps of step(): every micro-batch's forward and backward (the strategy's reducer launches the
  // buckets from its hooks; returns the all-reduce of the logged losses); the non-finite policy (true: the update
  // is skipped).
  std::shared_ptr<dist::Work> forward_backward(const std::vector<data::Batch>& micro_batches, StepStats& s,
                                               torch::Tensor& logged);
  bool skip_if_nonfinite(StepStats& s);
  std::int64_t step_ = 0, consecutive_skips_ = 0;

  void check_rows_per_rank(const BatchTensors& b) const;
  losses::LossTerms loss_of(const model::Encoded& e, const BatchTensors& b);
  losses::LossTerms forward_loss(const BatchTensors& b);
  // The cached loss (options_.cached_chunk_windows > 0): the losses over embeddings encoded without graphs, then
  // the backward pass chunk by chunk; `reduce` as the reducer's prepare(), for the micro-batch's last chunk.
  ChunkedInputs chunked(const BatchTensors& b) const;
  losses::LossTerms cached_forward_loss(const BatchTensors& b, CachedEmbeddings& cached);
  void cached_backward(const BatchTensors& b, const CachedEmbeddings& cached, const torch::Tensor& loss, bool reduce);
};

}  // namespace rslicer::train
