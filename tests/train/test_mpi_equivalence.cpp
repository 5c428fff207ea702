// Under mpirun -np W: K steps on W ranks with B/W windows each equal K steps on one rank with the global batch B
// (rank 0 also runs that single-process reference on MPI_COMM_SELF). Parameters within 1e-5 after K steps.
#include <gtest/gtest.h>
#include <mpi.h>

#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"
#include "data/fixture_telemetry.h"
#include "data/loader.h"
#include "data/windowing.h"
#include "dist/communicator.h"
#include "dist/staging_communicator.h"
#include "dist/mpi_context.h"
#include "train/sparse_rows.h"
#include "train/fit.h"
#include "train/pretrain_config.h"
#include "train/trainer.h"
#include "test_util.h"
#include "mpi_test_main.h"

using namespace rslicer;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizer = fs::path(RSLICER_SOURCE_DIR) / "assets" / "qwen3" / "tokenizer.json";
const fs::path kConfigDir = fs::path(RSLICER_SOURCE_DIR) / "configs";

model::Qwen3Config tiny_real_vocab() {
  model::Qwen3Config c;  // the real vocabulary (token ids up to 151668), a very small body
  c.hidden_size = 32;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 16;
  c.intermediate_size = 64;
  return c;
}

// The loader of these tests: global batches of 8 fixture windows in clusters of 4, short texts, one worker.
data::LoaderOptions fixture_loader_options(const dist::Communicator& comm) {
  data::LoaderOptions lo;
  lo.global_batch = 8;
  lo.cluster_size = 4;
  lo.workers = 1;
  lo.serializer.max_tokens = 48;
  lo.rank = comm.rank();
  lo.world = comm.world_size();
  return lo;
}

struct Run {
  std::vector<torch::Tensor> params;
  std::vector<double> losses, grad_norms;
};

Run train_k_steps(MPI_Comm comm_handle, const std::shared_ptr<const data::WindowStoreReader>& store,
                                         const std::shared_ptr<const data::Tokenizer>& tok, int steps, int grad_accum,
                                         bool sparse_embedding, bool packing,
                                         model::Precision precision = model::Precision::fp32, bool uneven = false,
                                         std::int64_t cached_chunk = 0, bool learnable_temperature = false,
                                         train::OptimizerKernel kernel = train::OptimizerKernel::automatic,
                                         bool staged = false, torch::Device device = torch::kCPU) {
  // `staged`: every collective through host copies (the path of device tensors without NCCL); `device`: where
  // the trainer places the model, the batches and the losses (a CUDA device stages its collectives).
  dist::MpiCommunicator mpi_comm(comm_handle, std::chrono::seconds(60));
  dist::StagingCommunicator staging(mpi_comm, dist::StagingCommunicator::Stage::every_tensor);
  dist::Communicator& comm = staged || !device.is_cpu() ? static_cast<dist::Communicator&>(staging) : mpi_comm;
  model::RuntimeSlicer m(tiny_real_vocab(), model::FusionConfig{32, 16, true});
  m->reset_parameters(1234);
  m->model->pack_sequences = packing;  // rows differ between world sizes; each sequence's result must not
  train::TrainOptions o = train::read_train_options(train::compose_pretrain(kConfigDir));
  o.max_steps = steps;
  o.warmup_steps = 1;
  // The parameter tolerance is absolute: with lr 1e-4 Adam's updates are ~1e-4 a step. The ranks' partial
  // gradients are summed in another order than the single process's, so gradients differ by fp32 noise (~1e-7
  // relative; the losses below agree to that); Adam divides by sqrt(v) + eps, so for an element whose gradient
  // crosses zero that noise decides the update's sign. eps 1e-6 keeps noise below 1e-6 from being amplified.
  o.lr = 1e-4;
  o.adam_eps = 1e-6;
  o.grad_accum = grad_accum;
  o.sparse_embedding = sparse_embedding;
  o.precision = precision;
  o.loss.lambda_temp = 1.0;
  o.loss.lambda_anom = 1.0;
  o.cached_chunk_windows = cached_chunk;
  o.learnable_temperature = learnable_temperature;
  o.optimizer_kernel = kernel;
  o.device = device;
  o.reducer.first_bucket_bytes = 4096;  // several buckets even for this small model
  o.reducer.bucket_bytes = 1u << 16;
  train::Trainer trainer(m, comm, o);
  data::LoaderOptions lo = fixture_loader_options(comm);
  lo.prefetch = 1;  // so that a split can be set from step 1 on (step 0 may be built already)
  data::WindowLoader loader({store}, tok, lo);
  // Uneven splits as the batch balancer sets them: from step 1 rank 0 takes the most windows, from the second
  // optimizer step the last rank does (rank r of W: 8 windows split unevenly, at least one each).
  const int world = comm.world_size();
  auto skewed = [&](bool last_heavy) {
    std::vector<std::int64_t> split(static_cast<std::size_t>(world), 1);
    for (std::int64_t left = 8 - world, r = 0; left > 0; --left, r = (r + 1) % (world > 1 ? world - 1 : 1))
      ++split[static_cast<std::size_t>(last_heavy ? world - 1 - r : r)];
    return split;
  };
  if (uneven && world > 1) loader.set_split_from(1, skewed(false));
  Run run;
  for (int s = 0; s < steps; ++s) {
    std::vector<data::Batch> micro;
    for (int k = 0; k < grad_accum; ++k) micro.push_back(loader.next());
    if (uneven && world > 1 && s == 0) loader.set_split_from(loader.next_step() + lo.prefetch, skewed(true));
    if (uneven && world > 1 && s == 1)
      EXPECT_NE(micro.front().rank_windows, std::vector<std::int64_t>(static_cast<std::size_t>(world), 8 / world));
    auto stats = trainer.step(micro);
    if (std::getenv("RSLICER_DEBUG_EQ") && comm.rank() == 0)
      std::printf("world %d step %d loss %.9f modal %.9f temp %.9f anom %.9f gnorm %.9f\n", comm.world_size(), s,
                  stats.loss, stats.modal, stats.temporal, stats.anomaly, stats.grad_norm);
    run.losses.push_back(stats.loss);
    run.grad_norms.push_back(stats.grad_norm);
  }
  for (const auto& p : m->parameters()) run.params.push_back(p.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true));
  return run;
}

// The fixture store, written by rank 0 into a directory that every rank reads, and the tokenizer; rank 0 removes the
// directory once every rank is done with it (also when a test ends early on a failed assertion).
struct SharedFixture {
  std::string dir;
  std::shared_ptr<const data::WindowStoreReader> store;
  std::shared_ptr<const data::Tokenizer> tok;

  explicit SharedFixture(const std::string& name) {
    const dist::MpiContext& mpi = test::mpi();
    dir = mpi.broadcast(mpi.is_root() ? (fs::temp_directory_path() / (name + std::to_string(::getpid()))).string() : "");
    if (mpi.is_root()) {
      fs::create_directories(dir);
      auto t = test::fixture();
      data::write_window_store(fs::path(dir) / "f.h5", t, data::make_windows(t, {60 * test::S, 30 * test::S}),
                               {60 * test::S, 30 * test::S});
    }
    mpi.barrier();
    store = std::make_shared<const data::WindowStoreReader>(fs::path(dir) / "f.h5");
    tok = std::make_shared<const data::Tokenizer>(data::Tokenizer::from_file(kTokenizer));
  }
  ~SharedFixture() {
    const dist::MpiContext& mpi = test::mpi();
    store.reset();
    mpi.barrier();
    if (mpi.is_root()) fs::remove_all(dir);
  }
  SharedFixture(const SharedFixture&) = delete;
  SharedFixture& operator=(const SharedFixture&) = delete;
};

// (grad_accum, sparse embedding gradient, sequence packing)
class Equivalence : public ::testing::TestWithParam<std::tuple<int, bool, bool>> {};

TEST_P(Equivalence, WorldSizeDoesNotChangeTheParameters) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const int grad_accum = std::get<0>(GetParam());
  const bool sparse = std::get<1>(GetParam());
  const bool packing = std::get<2>(GetParam());
  const SharedFixture fixture("rslicer_eq_");
  const auto& store = fixture.store;
  const auto& tok = fixture.tok;
  const int K = 3;
  auto distributed = train_k_steps(MPI_COMM_WORLD, store, tok, K, grad_accum, sparse, packing);
  if (mpi.is_root()) {
    auto reference_run = train_k_steps(MPI_COMM_SELF, store, tok, K, grad_accum, sparse, packing);
    const auto& reference = reference_run.params;
    ASSERT_EQ(reference.size(), distributed.params.size());
    for (int k = 0; k < K; ++k)
      EXPECT_NEAR(distributed.losses[static_cast<std::size_t>(k)], reference_run.losses[static_cast<std::size_t>(k)],
                  1e-6 * std::abs(reference_run.losses[static_cast<std::size_t>(k)]))
          << "step " << k;
    float max_diff = 0, max_change = 0;
    model::RuntimeSlicer init(tiny_real_vocab(), model::FusionConfig{32, 16, true});
    init->reset_parameters(1234);
    auto initial = init->parameters();
    auto names = init->named_parameters().keys();
    for (std::size_t i = 0; i < reference.size(); ++i) {
      const float d = (reference[i] - distributed.params[i]).abs().max().item<float>();
      if (std::getenv("RSLICER_DEBUG_EQ") && d > 1e-6) {
        auto diff = (reference[i] - distributed.params[i]).abs().flatten();
        auto idx = diff.argmax().item<std::int64_t>();
        std::printf("  %s: diff %.3g at flat %ld (ref %.6g dist %.6g init %.6g)\n", names[i].c_str(), d, (long)idx,
                    reference[i].flatten()[idx].item<float>(), distributed.params[i].flatten()[idx].item<float>(),
                    initial[i].flatten()[idx].item<float>());
      }
      max_diff = std::max(max_diff, d);
      max_change = std::max(max_change, (reference[i] - initial[i]).abs().max().item<float>());
    }
    std::printf("world %d (grad_accum %d, %s embedding gradient, packing %s) vs world 1 after %d steps: max |param "
                "diff| %.3g (max change %.3g)\n",
                mpi.world_size(), grad_accum, sparse ? "sparse" : "dense", packing ? "on" : "off", K, max_diff, max_change);
    EXPECT_LT(max_diff, 1e-5);
    EXPECT_GT(max_change, 1e-4);  // training moved the parameters: the comparison is not vacuous
  }
}

// The batch split unevenly between ranks, and changed between steps (train.balance, train/batch_balancer.h): the
// same K steps as one rank with the whole global batch, within the same 1e-5.
TEST(Equivalence, UnevenSplitsDoNotChangeTheParameters) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_equ_");
  const auto& store = fixture.store;
  const auto& tok = fixture.tok;
  const int K = 3;
  auto distributed = train_k_steps(MPI_COMM_WORLD, store, tok, K, 2, true, true, model::Precision::fp32, true);
  if (mpi.is_root()) {
    auto reference = train_k_steps(MPI_COMM_SELF, store, tok, K, 2, true, true);
    float max_diff = 0;
    for (std::size_t i = 0; i < reference.params.size(); ++i)
      max_diff = std::max(max_diff, (reference.params[i] - distributed.params[i]).abs().max().item<float>());
    for (int k = 0; k < K; ++k)
      EXPECT_NEAR(distributed.losses[static_cast<std::size_t>(k)], reference.losses[static_cast<std::size_t>(k)],
                  1e-6 * std::abs(reference.losses[static_cast<std::size_t>(k)])) << "step " << k;
    std::printf("world %d, uneven splits, vs world 1 after %d steps: max |param diff| %.3g\n", mpi.world_size(), K, max_diff);
    EXPECT_LT(max_diff, 1e-5);
  }
}

// model.precision: bf16 (autocast over the encoder on this CPU trainer): the same world-size equivalence holds, and
// the losses stay within bf16 rounding of the fp32 run's.
TEST(Bf16Training, MatchesAcrossWorldSizesAndStaysCloseToFp32) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_bf16_");
  const auto& store = fixture.store;
  const auto& tok = fixture.tok;
  auto bf16 = train_k_steps(MPI_COMM_WORLD, store, tok, 3, 1, true, true, model::Precision::bf16);
  if (mpi.is_root()) {
    auto bf16_single = train_k_steps(MPI_COMM_SELF, store, tok, 3, 1, true, true, model::Precision::bf16);
    auto fp32 = train_k_steps(MPI_COMM_SELF, store, tok, 3, 1, true, true, model::Precision::fp32);
    // bf16 rounds each rank's products of its own (differently shaped, differently packed) rows, so the fp32
    // equivalence to 1e-5 cannot hold; what must hold is that splitting the batch over ranks changes the result
    // no more than bf16 itself does (fp32 vs bf16 on one rank).
    float world_diff = 0, precision_diff = 0;
    for (std::size_t i = 0; i < bf16.params.size(); ++i) {
      world_diff = std::max(world_diff, (bf16.params[i] - bf16_single.params[i]).abs().max().item<float>());
      precision_diff = std::max(precision_diff, (fp32.params[i] - bf16_single.params[i]).abs().max().item<float>());
    }
    std::printf("bf16 world %d vs world 1: max |param diff| %.3g; fp32 vs bf16 on world 1: %.3g\n", mpi.world_size(),
                world_diff, precision_diff);
    for (int k = 0; k < 3; ++k) {
      std::printf("bf16 step %d: loss %.6f (world 1 %.6f, fp32 %.6f)\n", k, bf16.losses[k], bf16_single.losses[k], fp32.losses[k]);
      EXPECT_TRUE(std::isfinite(bf16.losses[k]));
      EXPECT_NEAR(bf16.losses[k], fp32.losses[k], 0.02 * std::abs(fp32.losses[k])) << "step " << k;
      EXPECT_NEAR(bf16.losses[k], bf16_single.losses[k], 1e-4 * std::abs(fp32.losses[k])) << "step " << k;
    }
    EXPECT_NE(bf16_single.losses[2], fp32.losses[2]);  // bf16 really ran
    EXPECT_LE(world_diff, 1.5 * precision_diff);
  }
}

// train.cached_loss (train/cached_loss.h): encoding in chunks without graphs, the losses over all embeddings, then
// the backward pass chunk by chunk gives the direct loss's losses and gradients (their global norm, and the
// parameters they lead to) within 1e-5, on this world and on one rank; chunks of 1 and 3 windows (an uneven last
// chunk), with gradient accumulation, a learnable temperature (its gradient joins the last chunk's pass), and the
// sparse and dense embedding gradients.
TEST(CachedLoss, EqualsTheDirectLossAndGradients) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_cached_");
  const int K = 3;
  auto compare = [&](const ::Run& direct, const ::Run& cached, const std::string& what) {
    float max_diff = 0;
    for (std::size_t i = 0; i < direct.params.size(); ++i)
      max_diff = std::max(max_diff, (direct.params[i] - cached.params[i]).abs().max().item<float>());
    for (int k = 0; k < K; ++k) {
      const auto s = static_cast<std::size_t>(k);
      EXPECT_NEAR(cached.losses[s], direct.losses[s], 1e-5 * std::abs(direct.losses[s])) << what << " step " << k;
      EXPECT_NEAR(cached.grad_norms[s], direct.grad_norms[s], 1e-5 * direct.grad_norms[s]) << what << " step " << k;
    }
    if (mpi.is_root()) std::printf("%s: cached vs direct loss after %d steps: max |param diff| %.3g, step-1 gradient norm %.6g vs %.6g\n",
                what.c_str(), K, max_diff, cached.grad_norms[0], direct.grad_norms[0]);
    EXPECT_LT(max_diff, 1e-5) << what;
    EXPECT_GT(direct.grad_norms[0], 0) << what;
  };
  for (const std::int64_t chunk : {1, 3})
    for (const bool sparse : {true, false}) {
      const int grad_accum = chunk == 1 ? 2 : 1;
      const std::string what = fmt::format("world {}, chunks of {}, grad_accum {}, {} embedding gradient",
                                           mpi.world_size(), chunk, grad_accum, sparse ? "sparse" : "dense");
      auto direct = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, grad_accum, sparse, true,
                                  model::Precision::fp32, false, 0, true);
      auto cached = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, grad_accum, sparse, true,
                                  model::Precision::fp32, false, chunk, true);
      compare(direct, cached, what);
      if (mpi.is_root() && mpi.world_size() > 1) {
        auto direct_one = train_k_steps(MPI_COMM_SELF, fixture.store, fixture.tok, K, grad_accum, sparse, true,
                                        model::Precision::fp32, false, 0, true);
        auto cached_one = train_k_steps(MPI_COMM_SELF, fixture.store, fixture.tok, K, grad_accum, sparse, true,
                                        model::Precision::fp32, false, chunk, true);
        compare(direct_one, cached_one, "one rank, chunks of " + std::to_string(chunk));
      }
    }
}

// train.trainer.optimizer_kernel: tensor_ops (LibTorch ops, the path for buffers on a device) trains like the fused
// host kernel, with ZeRO-1 slices (on this world), the lazy rows and the dense embedding gradient.
TEST(OptimizerKernel, TensorOpsTrainLikeTheHostKernel) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_kernel_");
  const int K = 3;
  for (const bool sparse : {true, false}) {
    auto host = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, 1, sparse, true, model::Precision::fp32,
                              false, 0, true, train::OptimizerKernel::host);
    auto ops = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, 1, sparse, true, model::Precision::fp32,
                             false, 0, true, train::OptimizerKernel::tensor_ops);
    float max_diff = 0, moved = 0;
    for (std::size_t i = 0; i < host.params.size(); ++i) {
      max_diff = std::max(max_diff, (host.params[i] - ops.params[i]).abs().max().item<float>());
      moved = std::max(moved, host.params[i].abs().max().item<float>());
    }
    for (int k = 0; k < K; ++k)
      EXPECT_NEAR(ops.losses[static_cast<std::size_t>(k)], host.losses[static_cast<std::size_t>(k)],
                  1e-6 * std::abs(host.losses[static_cast<std::size_t>(k)])) << "step " << k;
    if (mpi.is_root())
      std::printf("world %d, %s embedding gradient: tensor_ops vs host kernel after %d steps: max |param diff| %.3g\n",
                  mpi.world_size(), sparse ? "sparse" : "dense", K, max_diff);
    EXPECT_LT(max_diff, 1e-6);
    EXPECT_GT(moved, 0.0f);
  }
}

// Every collective of training staged through host copies (dist/staging_communicator.h, the path of CUDA tensors
// without NCCL or with ranks sharing a GPU) trains exactly as the MPI backend on the same tensors.
TEST(StagedCollectives, TrainLikeTheHostBackend) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_staged_");
  const int K = 3;
  for (const bool sparse : {true, false}) {
    auto direct = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, 2, sparse, true);
    auto staged = train_k_steps(MPI_COMM_WORLD, fixture.store, fixture.tok, K, 2, sparse, true, model::Precision::fp32,
                                false, 0, false, train::OptimizerKernel::automatic, true);
    float max_diff = 0, moved = 0;
    for (std::size_t i = 0; i < direct.params.size(); ++i) {
      max_diff = std::max(max_diff, (direct.params[i] - staged.params[i]).abs().max().item<float>());
      moved = std::max(moved, direct.params[i].abs().max().item<float>());
    }
    EXPECT_EQ(staged.losses, direct.losses);
    if (mpi.is_root())
      std::printf("world %d, %s embedding gradient: staged vs direct collectives after %d steps: max |param diff| %.3g\n",
                  mpi.world_size(), sparse ? "sparse" : "dense", K, max_diff);
    EXPECT_EQ(max_diff, 0.0f);
    EXPECT_GT(moved, 0.0f);
  }
}

// train.trainer.device: cuda. The tiny model on the GPU trains like the CPU trainer within 1e-4 over 5 steps, on
// this world (ranks sharing the GPU stage their collectives through pinned host memory) and on one rank: 2 ranks
// on one GPU equal 1. Skips without a CUDA LibTorch and a GPU (bench/gpu/run.sh runs it on the GPU machine).
TEST(DeviceTraining, CudaTrainsLikeTheCpuTrainer) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA LibTorch or no GPU: the device trainer is built, not run";
  const dist::MpiContext& mpi = test::mpi();
  const SharedFixture fixture("rslicer_cuda_");
  const int K = 5;
  const torch::Device gpu(torch::kCUDA, 0);
  auto run = [&](MPI_Comm comm, torch::Device device) {
    return train_k_steps(comm, fixture.store, fixture.tok, K, 1, false, false, model::Precision::fp32, false, 0, false,
                         train::OptimizerKernel::automatic, false, device);
  };
  auto max_diff = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    float d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<float>());
    return d;
  };
  auto cpu = run(MPI_COMM_WORLD, torch::kCPU);
  auto cuda = run(MPI_COMM_WORLD, gpu);
  const float vs_cpu = max_diff(cpu.params, cuda.params);
  if (mpi.is_root()) {
    auto cuda_one = run(MPI_COMM_SELF, gpu);
    const float vs_one = max_diff(cuda_one.params, cuda.params);
    std::printf("tiny model, %d steps: %d rank(s) on the GPU vs the CPU trainer: max |param diff| %.3g; vs 1 rank on "
                "the GPU: %.3g\n", K, mpi.world_size(), vs_cpu, vs_one);
    EXPECT_LT(vs_one, 1e-4);
  }
  for (int k = 0; k < K; ++k)
    EXPECT_NEAR(cuda.losses[static_cast<std::size_t>(k)], cpu.losses[static_cast<std::size_t>(k)],
                1e-4 * std::abs(cpu.losses[static_cast<std::size_t>(k)])) << "step " << k;
  EXPECT_LT(vs_cpu, 1e-4);
}

// fit(trainer, loader, callbacks) (train/fit.h): every callback sees every step in order with the global batch's
// windows, a callback's Stop ends the run on every rank after that step, and on_end sees the result once.
class Recorder : public train::Callback {
 public:
  explicit Recorder(std::int64_t stop_after) : stop_after_(stop_after) {}
  std::vector<std::string> calls;
  std::vector<double> windows;
  train::FitResult end;
  train::Stop before_step(std::int64_t step) override {
    calls.push_back("before " + std::to_string(step));
    return train::Stop::no;
  }
  train::Stop after_step(const train::StepDone& done) override {
    calls.push_back("after " + std::to_string(done.step));
    windows.push_back(done.windows);
    return done.step + 1 == stop_after_ ? train::Stop::early : train::Stop::no;
  }
  void on_end(const train::FitResult& result) override {
    calls.push_back("end");
    end = result;
  }

 private:
  std::int64_t stop_after_;
};

TEST(Fit, CallbacksSeeEveryStepAndStopTheRun) {
  if (!fs::exists(kTokenizer)) GTEST_SKIP() << "assets/qwen3/tokenizer.json missing (run make deps)";
  const SharedFixture fixture("rslicer_fit_");
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  model::RuntimeSlicer m(tiny_real_vocab(), model::FusionConfig{32, 16, true});
  m->reset_parameters(1234);
  train::TrainOptions o = train::read_train_options(train::compose_pretrain(kConfigDir));
  o.max_steps = 5;
  o.grad_accum = 2;
  train::Trainer trainer(m, comm, o);
  data::WindowLoader loader({fixture.store}, fixture.tok, fixture_loader_options(comm));
  Recorder first(0), stopper(3);
  const auto result = train::fit(trainer, loader, {&first, &stopper});
  EXPECT_EQ(first.calls, (std::vector<std::string>{"before 0", "after 0", "before 1", "after 1", "before 2", "after 2", "end"}));
  EXPECT_EQ(stopper.calls, first.calls);
  EXPECT_EQ(first.windows, (std::vector<double>{16, 16, 16}));  // grad_accum x the global micro-batch
  EXPECT_EQ(result.steps, 3);
  EXPECT_EQ(trainer.steps_done(), 3);
  EXPECT_EQ(result.stopped, train::Stop::early);
  EXPECT_EQ(first.end.steps, 3);
  EXPECT_GT(result.tokens, 0);
  EXPECT_EQ(loader.next_step(), 6u);  // 3 steps x 2 micro-batches drawn
}

INSTANTIATE_TEST_SUITE_P(GradAccumSparsityPacking, Equivalence,
                         ::testing::Values(std::make_tuple(1, false, false), std::make_tuple(2, false, false),
                                           std::make_tuple(1, true, false), std::make_tuple(2, true, false),
                                           std::make_tuple(1, true, true), std::make_tuple(2, true, true)));

}  // namespace

TEST(RowsExchange, EqualsThePaddedGatherWithoutItsPadding) {
  // Uneven counts (rank r touches 3r + 1 rows, the last rank of three or more none), overlapping row ids: the
  // exchange with exact counts gives the same rows, in the same places, and the same average as gather_rows (all
  // padded to the largest count, the reference), and nothing else.
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  const int world = comm.world_size();
  const bool empty = world > 2 && comm.rank() == world - 1;
  const std::int64_t n = empty ? 0 : 3 * comm.rank() + 1, width = 4;
  torch::Tensor ids = torch::arange(n, torch::kInt64) * (comm.rank() + 1);
  torch::Tensor values = torch::randn({n, width}, torch::TensorOptions().dtype(torch::kFloat32)) + comm.rank();
  const train::SparseRows local{ids, values};
  const train::GatheredRows reference = train::gather_rows(local, comm);
  train::RowsExchange exchange(local, comm);
  const train::GatheredRows fast = exchange.finish();
  EXPECT_TRUE(torch::equal(fast.counts, reference.counts));
  EXPECT_TRUE(torch::equal(fast.rows, reference.rows));
  EXPECT_TRUE(torch::equal(fast.values, reference.values));
  std::int64_t total = 0;
  for (int r = 0; r < world; ++r) total += world > 2 && r == world - 1 ? 0 : 3 * r + 1;
  EXPECT_EQ(fast.rows.size(0), total);
  EXPECT_EQ(fast.values.size(0), total);
  const train::SparseRows a = train::sum_gathered_rows(fast), b = train::sum_gathered_rows(reference);
  EXPECT_TRUE(torch::equal(a.rows, b.rows));
  EXPECT_TRUE(torch::equal(a.values, b.values));
  EXPECT_GT(a.rows.size(0), n - 1);
}

TEST(RowsToOwners, EqualsTheFullExchangeKeptToTheSlice) {
  // A [50, 4] block at offset 7 of a 212-element flat buffer, cut into W equal slices (the bounds fall inside
  // rows, so a row can belong to two ranks); each rank touches its own random rows (the last of three or more
  // ranks none). Each rank gets exactly the rows with elements in its slice, from every rank, with their values,
  // as the reference (everything gathered, then kept to the slice) gives them, and their average equals the full
  // exchange's average on those rows.
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  const int world = comm.world_size();
  const std::int64_t offset = 7, vocab = 50, width = 4, numel = offset + vocab * width + 5;
  std::vector<std::int64_t> partition;
  for (int r = 0; r <= world; ++r) partition.push_back(numel * r / world);
  torch::manual_seed(100 + comm.rank());
  const bool empty = world > 2 && comm.rank() == world - 1;
  const torch::Tensor ids = std::get<0>(at::_unique(torch::randint(0, vocab, {empty ? 0 : 30}, torch::kInt64), true));
  const train::SparseRows local{ids, torch::randn({ids.size(0), width})};
  train::RowsToOwners exchange(local, offset, partition, comm);
  const train::GatheredRows fast = exchange.finish();
  const train::GatheredRows reference = train::gather_rows_to_owners(local, offset, partition, comm);
  EXPECT_TRUE(torch::equal(fast.counts, reference.counts));
  EXPECT_TRUE(torch::equal(fast.rows, reference.rows));
  EXPECT_TRUE(torch::equal(fast.values, reference.values));
  const std::int64_t lo = partition[static_cast<std::size_t>(comm.rank())], hi = partition[static_cast<std::size_t>(comm.rank()) + 1];
  for (std::int64_t i = 0; i < fast.rows.size(0); ++i) {
    const std::int64_t row_begin = offset + fast.rows[i].item<std::int64_t>() * width;
    EXPECT_TRUE(row_begin < hi && row_begin + width > lo) << "row " << fast.rows[i].item<std::int64_t>();
  }
  const train::SparseRows mine = train::sum_gathered_rows(fast), all = train::sum_gathered_rows(train::gather_rows(local, comm));
  const torch::Tensor in_slice = (all.rows * width + offset).lt(hi).logical_and((all.rows * width + offset + width).gt(lo));
  EXPECT_TRUE(torch::equal(mine.rows, all.rows.masked_select(in_slice)));
  EXPECT_TRUE(torch::equal(mine.values, all.values.index({in_slice})));
  if (world > 1) EXPECT_LT(mine.rows.size(0), all.rows.size(0));
}
