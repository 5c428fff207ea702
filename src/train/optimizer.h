// The optimizer as an object that owns its state, as torch.optim's do: the AdamW moments of the range [begin, end)
// of the flat parameters that this rank updates (its ZeRO-1 slice, or all of them) and the count of updates
// applied (AdamW's bias correction counts these). One update: begin_update() fixes the step's scalars, then
// update_range() (dense parts of the range) and update_rows() (the sparse embedding's touched rows, lazily: rows
// not touched keep their moments) apply them; state_dict() is what a checkpoint saves.
//
// Two kernels, one rule (train/flat_adamw.h): `host`, the fused, vectorized loop over CPU buffers (fused_adamw,
// lazy_adamw_rows), and `tensor_ops`, the same update as LibTorch ops on whatever device the buffers live on.
// `automatic` takes the host kernel for CPU buffers and LibTorch ops elsewhere; the tests check the two against
// each other on CPU (tests/train/test_optimizer.cpp).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "train/flat_adamw.h"
#include "train/sparse_rows.h"

namespace rslicer::train {

// Tensors by name; the optimizer's own tensors share storage with what state_dict() returns.
using StateDict = std::map<std::string, torch::Tensor>;

enum class OptimizerKernel { automatic, host, tensor_ops };
// "auto", "host" or "tensor_ops" (train.trainer.optimizer_kernel); a ConfigError otherwise.
OptimizerKernel parse_optimizer_kernel(const std::string& name);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // The range of the flat parameters whose state this optimizer holds.
  virtual std::int64_t begin() const = 0;
  virtual std::int64_t end() const = 0;
  virtual std::int64_t steps() const = 0;  // updates applied
  // Starts an update (counted from here): its hyper-parameters and the factor every gradient is scaled by
  // (gradient clipping).
  virtual void begin_update(const AdamWHyper& hyper, float grad_scale) = 0;
  // Updates [a, b) of `flat_params` (within [begin, end)) from the same range of `flat_grads`.
  virtual void update_range(torch::Tensor& flat_params, const torch::Tensor& flat_grads, std::int64_t a,
                            std::int64_t b) = 0;
  // Updates the elements within [begin, end) of the touched rows of a [V, width] block at `block_offset`.
  virtual void update_rows(torch::Tensor& flat_params, std::int64_t block_offset, const SparseRows& rows) = 0;
  // "exp_avg", "exp_avg_sq" ([end - begin], sharing storage with the optimizer) and "steps" (an int64 scalar).
  virtual StateDict state_dict() = 0;
  // Copies a state dict of the same shapes in; one line naming what does not fit otherwise.
  virtual void load_state_dict(const StateDict& state) = 0;
};

class FlatAdamW : public Optimizer {
 public:
  FlatAdamW(std::int64_t begin, std::int64_t end, torch::Device device, OptimizerKernel kernel = OptimizerKernel::automatic);

  std::int64_t begin() const override { return begin_; }
  std::int64_t end() const override { return end_; }
  std::int64_t steps() const override { return steps_; }
  void begin_update(const AdamWHyper& hyper, float grad_scale) override;
  void update_range(torch::Tensor& flat_params, const torch::Tensor& flat_grads, std::int64_t a, std::int64_t b) override;
  void update_rows(torch::Tensor& flat_params, std::int64_t block_offset, const SparseRows& rows) override;
  StateDict state_dict() override;
  void load_state_dict(const StateDict& state) override;

 private:
  std::int64_t begin_ = 0, end_ = 0, steps_ = 0;
  OptimizerKernel kernel_;
  torch::Tensor exp_avg_, exp_avg_sq_;
  AdamWHyper hyper_;
  float grad_scale_ = 1.0f;

  bool host_kernel_for(const torch::Tensor& flat_params) const;
};

// The update of flat_adamw.h as LibTorch ops, in place, on any device: the reference for the host kernel and the
// path for device buffers.
void adamw_tensor_ops(const AdamWStep& s, torch::Tensor param, const torch::Tensor& grad, torch::Tensor exp_avg,
                      torch::Tensor exp_avg_sq);

}  // namespace rslicer::train
