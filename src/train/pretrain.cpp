#include "train/pretrain.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <fstream>
#include <optional>
#include <thread>

#include "core/allocator.h"
#include "core/blas_kernel.h"
#include "core/error.h"
#include "data/cpu_affinity.h"
#include "data/loader.h"
#include "data/serializer_record.h"
#include "data/tokenizer.h"
#include "model/safetensors.h"
#include "train/batch_balancer.h"
#include "train/callbacks.h"
#include "train/checkpoint.h"
#include "train/device.h"
#include "train/fit.h"
#include "train/pretrain_config.h"
#include "train/trainer.h"
#include "tuning/split.h"

namespace fs = std::filesystem;

namespace rslicer::train {

namespace {

std::vector<std::shared_ptr<const data::WindowStoreReader>> open_stores(const std::vector<std::string>& paths) {
  std::vector<std::shared_ptr<const data::WindowStoreReader>> stores;
  for (const auto& p : paths) stores.push_back(std::make_shared<const data::WindowStoreReader>(p));
  return stores;
}

// train.init_from: the weights (only) of a release directory or a checkpoint, by parameter name. Strict: every
// parameter of the model must be there and nothing else; partial: the matching ones, the rest reported.
void initialise_from(model::RuntimeSlicer& model, const fs::path& source, bool strict) {
  std::map<std::string, torch::Tensor> weights;
  if (fs::exists(source / "manifest.json")) {
    weights = checkpoint_parameters(source);
  } else if (fs::exists(source / "model.safetensors") || fs::exists(source / "model.safetensors.index.json")) {
    model::SafetensorsCollection files(source);
    for (const auto& [name, view] : files.tensors()) {
      if (view.dtype != model::DType::F32) continue;
      weights[name] = torch::from_blob(const_cast<void*>(view.data), view.shape, torch::kFloat32).clone();
    }
  } else {
    throw ConfigError("train.init_from is neither a release nor a checkpoint", source.string(),
                      "a directory with model.safetensors (release) or manifest.json (checkpoints/step-N)");
  }
  std::vector<std::string> missing, mismatched;
  std::size_t loaded = 0;
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    auto it = weights.find(item.key());
    if (it == weights.end()) {
      missing.push_back(item.key());
      continue;
    }
    if (it->second.sizes() != item.value().sizes()) {
      mismatched.push_back(item.key());
    } else {
      item.value().copy_(it->second);
      ++loaded;
    }
    weights.erase(it);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : weights)
    if (name != "loss.logit_scale") unexpected.push_back(name);
  const std::string report = fmt::format("{} loaded, {} missing, {} unexpected, {} of another shape", loaded,
                                         missing.size(), unexpected.size(), mismatched.size());
  spdlog::info("init_from {}: {}", source.string(), report);
  for (const auto& n : missing) spdlog::warn("init_from: missing {}", n);
  for (const auto& n : unexpected) spdlog::warn("init_from: unexpected {}", n);
  for (const auto& n : mismatched) spdlog::warn("init_from: shape differs for {}", n);
  if (strict && (!missing.empty() || !unexpected.empty() || !mismatched.empty()))
    throw ConfigError("train.init_from does not match the model (" + report + ")", source.string(),
                      "the same architecture, or train.init_strict=false for a partial load");
  if (loaded == 0) throw ConfigError("train.init_from matched no parameter", source.string(), "weights of this model");
}

// train.resume: null (fresh), auto (the newest complete checkpoint under the checkpoint dir, else fresh), or a
// checkpoint directory. Rank 0 decides; every rank gets the same answer.
std::optional<fs::path> checkpoint_to_resume(const std::optional<std::string>& resume_option,
                                             const CheckpointPolicy& policy, const dist::MpiContext& mpi) {
  if (!resume_option) return std::nullopt;
  const std::string& resume = *resume_option;
  std::string chosen;
  if (mpi.is_root()) {
    if (resume == "auto") {
      auto latest = latest_checkpoint(policy.root);
      chosen = latest ? latest->string() : "";
      if (!latest) spdlog::info("resume=auto: no complete checkpoint under {}, starting fresh", policy.root.string());
    } else {
      chosen = resume;
    }
  }
  chosen = mpi.broadcast(chosen);
  if (chosen.empty()) return std::nullopt;
  read_checkpoint_manifest(chosen);  // a clear error now if it is not a complete checkpoint
  return fs::path(chosen);
}

}  // namespace

model::ReleaseInfo model_info_from_config(const config::Config& m) {
  model::ReleaseInfo info;
  auto& c = info.backbone;
  c.vocab_size = m.get_int("vocab_size");
  c.hidden_size = m.get_int("hidden_size");
  c.num_hidden_layers = m.get_int("num_hidden_layers");
  c.num_attention_heads = m.get_int("num_attention_heads");
  c.num_key_value_heads = m.get_int("num_key_value_heads");
  c.head_dim = m.get_int("head_dim");
  c.intermediate_size = m.get_int("intermediate_size");
  c.rope_theta = m.get_double("rope_theta");
  c.rms_norm_eps = m.get_double("rms_norm_eps");
  c.max_position_embeddings = m.get_int("max_position_embeddings");
  c.validate();
  info.fusion.hidden_dim = m.get_int("fusion.hidden_dim");
  info.fusion.out_dim = m.get_int("fusion.out_dim");
  info.fusion.gating = m.get_bool("fusion.gating");
  info.mrl_dim = m.is_null("mrl_dim") ? 0 : m.get_int("mrl_dim");
  return info;
}

fs::path tokenizer_path_from_config(const config::Config& m) {
  return m.is_null("tokenizer") ? data::default_tokenizer_path() : fs::path(m.get_string("tokenizer"));
}

model::RuntimeSlicer build_model(const config::Config& m, std::uint64_t seed) {
  model::ReleaseInfo info = model_info_from_config(m);
  if (!m.is_null("pretrained_dir")) {
    const fs::path dir = m.get_string("pretrained_dir");
    model::Qwen3Config hf = model::Qwen3Config::from_json_file(dir / "config.json");
    model::RuntimeSlicer rs(hf, info.fusion, info.mrl_dim);
    rs->reset_parameters(seed);
    auto report = model::load_hf_backbone(rs->model, dir);
    spdlog::info("loaded {}: {}", dir.string(), report.summary());
    if (!report.missing.empty())
      throw Error("pretrained backbone is missing weights: " + report.summary(), dir.string(),
                  "a complete Qwen3(-Embedding) directory");
    return rs;
  }
  model::RuntimeSlicer rs(info.backbone, info.fusion, info.mrl_dim);
  rs->reset_parameters(seed);
  return rs;
}

namespace {

// loader.worker_cpus -> the CPUs the loader's workers are pinned to (empty: not pinned). auto: a rank whose CPUs
// are its own (mpirun/srun bound it) splits them all; ranks that share CPUs (unbound, in one node or one cgroup)
// each take their slice of them.
std::vector<int> worker_cpus(const WorkerCpus& setting, int intra_op_threads, const dist::MpiContext& mpi) {
  if (setting.mode == "list") return setting.list;
  if (setting.mode == "none") return {};
  const CpuShare share = cpu_share(mpi.node_cpus().per_rank, mpi.node_cpus().me);
  auto cpus = data::plan_worker_cpus(allowed_cpus(), share.index, share.count, intra_op_threads);
  if (cpus.empty())
    spdlog::info("loader workers not pinned: no CPU to spare beside {} compute thread(s) per rank", intra_op_threads);
  return cpus;
}

}  // namespace

void apply_allocator_policy_from_config(const config::Config& cfg, const std::string& key) {
  auto mib = [&](const std::string& field) {
    const std::int64_t v = cfg.get_int(key + "." + field);
    if (v < 0 || v > 2047)
      throw ConfigError(field + " = " + std::to_string(v), key + "." + field, "0 (glibc's default) to 2047 MiB");
    return static_cast<std::size_t>(v) << 20;
  };
  apply_allocator_policy({mib("mmap_threshold_mb"), mib("trim_threshold_mb")}, key);
}

namespace {

using Stores = std::vector<std::shared_ptr<const data::WindowStoreReader>>;

// Says how much of each store pre-training reads (split.by other than none holds the test side out).
void log_pretraining_windows(const std::vector<std::shared_ptr<const data::WindowStoreReader>>& stores,
                             const std::vector<std::size_t>& prefix, const std::string& split) {
  std::size_t used = 0, total = 0;
  for (std::size_t s = 0; s < stores.size(); ++s) {
    used += prefix[s];
    total += stores[s]->windows().size();
  }
  spdlog::info("pre-training on {} of {} windows (split={}: {})", used, total, split,
               split == "none" ? "every window" : "the test side held out, windows and labels");
}

// The training loader's options: the config's, this rank's place and CPUs, the split's training windows of each
// store, and train.balance's split schedule from the checkpoint where it still fits (the same ranks and batch).
data::LoaderOptions loader_options(const PretrainConfig& c, const dist::MpiContext& mpi, const Stores& stores,
                                   const TrainingCursor& resume) {
  data::LoaderOptions lo = c.loader;
  lo.global_batch = c.global_batch / static_cast<std::size_t>(c.train.grad_accum);
  lo.seed = c.seed;
  lo.rank = mpi.rank();
  lo.world = mpi.world_size();
  lo.worker_cpus = worker_cpus(c.worker_cpus, c.intra_op_threads, mpi);
  if (!resume.splits.empty() && c.balance) {
    bool fits = true;
    for (const auto& [from, split] : resume.splits) {
      std::int64_t total = 0;
      for (auto n : split) total += n;
      fits = fits && static_cast<int>(split.size()) == mpi.world_size() && total == static_cast<std::int64_t>(lo.global_batch);
    }
    if (fits) lo.splits = resume.splits;
    else if (mpi.is_root())
      spdlog::info("train.balance: the checkpoint's split is for another world size or batch; starting from equal parts");
  }
  lo.windows_per_store = tuning::training_prefix(tuning::window_rows(stores), c.split);
  return lo;
}

// The validation loader's options: the training loader's, another sampler seed, one worker, even splits, and every
// window of data.val_stores when they are given.
data::LoaderOptions validation_options(const data::LoaderOptions& lo, bool own_stores) {
  data::LoaderOptions vo = lo;
  if (own_stores) vo.windows_per_store = {};
  vo.seed = lo.seed + 1;
  vo.workers = 1;
  vo.splits = {};  // validation batches are split evenly (train.balance moves only training windows)
  return vo;
}

// train.epochs counts the sampler's batches (grad_accum a step) instead of train.max_steps.
std::int64_t max_steps(const PretrainConfig& c, const data::WindowLoader& loader) {
  if (!c.epochs) return c.train.max_steps;
  const auto per_epoch = static_cast<std::int64_t>(loader.sampler().batches_per_epoch()) / c.train.grad_accum;
  const auto steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(*c.epochs * static_cast<double>(per_epoch))));
  spdlog::info("train.epochs={} x {} steps per epoch = {} steps", *c.epochs, per_epoch, steps);
  return steps;
}

// The model as pre-training starts it: built from model.*, initialised from train.init_from (unless resuming,
// where the checkpoint brings the weights), frozen layers, activation checkpointing, packing, fused attention.
model::RuntimeSlicer model_to_train(const config::Config& model_cfg, const ModelSetup& setup, std::uint64_t seed,
                                    bool resuming) {
  model::RuntimeSlicer model = build_model(model_cfg, seed);
  if (setup.init_from && !resuming) initialise_from(model, *setup.init_from, setup.init_strict);
  model->model->freeze(setup.freeze_layers, setup.freeze_embeddings);
  model->model->activation_checkpointing = setup.activation_checkpointing;
  model->model->pack_sequences = setup.pack_sequences;
  model::apply_fused_attention(*model->model, setup.fused_attention);
  return model;
}

// The release of a finished run (<run dir>/final): the weights, config.json, the tokenizer and a model card.
void write_final_release(const config::Config& cfg, const fs::path& run_dir, const fs::path& tokenizer_path,
                         model::RuntimeSlicer& model, const PretrainResult& result, int world, std::size_t global_batch,
                         double seconds) {
  model::ReleaseInfo info = model_info_from_config(cfg.sub("model"));
  info.backbone = model->model->config;
  nlohmann::json summary = {{"steps", result.steps}, {"first_loss", result.first_loss},
                            {"last_loss", result.last_loss}, {"world_size", world},
                            {"global_batch", global_batch}, {"stores", cfg.get_string_list("data.stores")},
                            {"seconds", seconds}, {"stopped_by_signal", result.stopped_by_signal},
                            {"serializer", data::serializer_record(read_loader_serializer(cfg))}};
  info.summary_json = summary.dump();
  info.tokenizer_dir = tokenizer_path.parent_path();
  info.model_card = model::model_card(
      {cfg.get_string("model.name"), "Pre-trained with `rslicer pretrain`", result.steps, world,
       static_cast<std::int64_t>(global_batch), cfg.get_string_list("data.stores"),
       fmt::format("{:.4f} -> {:.4f}", result.first_loss, result.last_loss), "", ""},
      info);
  model::write_release(run_dir / "final", model, info);
}

void log_run(const config::Config& cfg, const model::RuntimeSlicer& model, const data::WindowLoader& loader,
             std::size_t stores, int world, std::size_t global_batch, std::int64_t grad_accum, std::int64_t max_steps) {
  std::int64_t params = 0, trainable = 0;
  for (const auto& p : model->parameters()) {
    params += p.numel();
    trainable += p.requires_grad() ? p.numel() : 0;
  }
  const std::size_t micro_batch = loader.options().global_batch;
  spdlog::info("pre-training {} ({:.1f}M parameters, {:.1f}M trainable) on {} store(s), {} windows; {} rank(s), global "
               "batch {} ({} per rank x {} micro-steps), {} steps",
               cfg.get_string("model.name"), params / 1e6, trainable / 1e6, stores,
               loader.sampler().batches_per_epoch() * micro_batch, world, global_batch,
               micro_batch / static_cast<std::size_t>(world), grad_accum, max_steps);
  if (const auto& pairs = loader.fault_pairs(); pairs.pairs() > 0)
    spdlog::info("fault-type pairs: {} a global batch ({}), from {} fault types with two events or more", pairs.pairs(),
                 pairs.root_views() ? "root-cause views" : "whole windows", pairs.types_with_pairs());
  spdlog::info("{}", blas_kernel().describe());
}

// The run's data: the stores, the tokenizer and both loaders, resumed at the checkpoint's cursor.
struct RunData {
  Stores stores, val_stores;
  std::shared_ptr<const data::Tokenizer> tokenizer;
  std::unique_ptr<data::WindowLoader> loader, val_loader;
};

RunData open_data(const PretrainConfig& c, const fs::path& tokenizer_path, const dist::MpiContext& mpi,
                  const TrainingCursor& resume) {
  const std::int64_t grad_accum = c.train.grad_accum;
  if (grad_accum < 1 || c.global_batch % static_cast<std::size_t>(grad_accum * mpi.world_size()) != 0)
    throw ConfigError("train.global_batch " + std::to_string(c.global_batch) +
                          " must be a multiple of grad_accum x ranks (" + std::to_string(grad_accum) + " x " +
                          std::to_string(mpi.world_size()) + ")",
                      "train.global_batch", "a divisible global batch");
  RunData d;
  d.stores = open_stores(c.stores);
  d.val_stores = c.val_stores.empty() ? d.stores : open_stores(c.val_stores);
  d.tokenizer = std::make_shared<const data::Tokenizer>(data::Tokenizer::from_file(tokenizer_path));
  const data::LoaderOptions lo = loader_options(c, mpi, d.stores, resume);
  if (mpi.is_root()) log_pretraining_windows(d.stores, lo.windows_per_store, c.split.by);
  d.loader = std::make_unique<data::WindowLoader>(d.stores, d.tokenizer, lo, resume.data_step);
  d.val_loader = std::make_unique<data::WindowLoader>(d.val_stores, d.tokenizer,
                                                      validation_options(lo, !c.val_stores.empty()), resume.val_data_step);
  return d;
}

// train.balance (more than one rank): the split of each global batch follows the ranks' pace, starting from the
// split in force once the schedule's pending changes (a resumed run's) have taken effect, and from what the
// checkpoint's balancer had measured where the checkpoint's split schedule still fits this run.
std::optional<BatchBalancer> batch_balancer(const PretrainConfig& c, const dist::MpiContext& mpi,
                                            data::WindowLoader& loader, const TrainingCursor& resume) {
  if (!c.balance || mpi.world_size() < 2) return std::nullopt;
  const auto& splits = loader.options().splits;
  BatchBalancer balancer(splits.empty() ? loader.split_at(loader.next_step()) : splits.rbegin()->second, *c.balance);
  if (!splits.empty() && !resume.balancer.is_null()) balancer.load_state_dict(resume.balancer);
  return balancer;
}

}  // namespace

PretrainResult run_pretraining(const config::Config& cfg, const fs::path& run_dir, const dist::MpiContext& mpi) {
  const PretrainConfig c = read_pretrain_config(cfg, run_dir);
  StopSignals signals;
  torch::set_num_threads(c.intra_op_threads);
  apply_allocator_policy_from_config(cfg, "train.trainer.allocator");
  const torch::Device device = training_device(c.device, mpi);
  torch::manual_seed(c.seed);

  // Data, resumed at the checkpoint's cursor when there is one.
  const std::optional<fs::path> resume_from = checkpoint_to_resume(c.resume, c.checkpoint, mpi);
  const nlohmann::json manifest = resume_from ? read_checkpoint_manifest(*resume_from) : nlohmann::json();
  const TrainingCursor resume = resume_from ? training_cursor(manifest, *resume_from) : TrainingCursor{};
  const fs::path tokenizer_path = tokenizer_path_from_config(cfg.sub("model"));
  RunData data = open_data(c, tokenizer_path, mpi, resume);

  // Collectives, model, trainer, balancer, checkpoints (the trainer's state from the checkpoint).
  const std::chrono::milliseconds timeout(static_cast<long>(c.timeout_s * 1000));
  dist::MpiCommunicator mpi_comm(MPI_COMM_WORLD, timeout, dist::parse_wait_policy(c.wait, mpi.node_cpus()));
  TrainingCommunicator training_comm(device, c.backend, mpi_comm, mpi, timeout);
  dist::Communicator& comm = training_comm.get();
  if (mpi.is_root())
    spdlog::info("training on {}; collectives: {} (MPI waits by {})", device.str(), training_comm.description(),
                 dist::to_string(mpi_comm.wait_policy()));
  model::RuntimeSlicer model = model_to_train(cfg.sub("model"), c.model, c.seed, resume_from.has_value());
  TrainOptions options = c.train;
  options.max_steps = max_steps(c, *data.loader);
  options.device = device;
  const FaultInjector faults = FaultInjector::from_environment();  // test hooks (train/fault_injector.h)
  Trainer trainer(model, comm, options, faults);
  trainer.broadcast_parameters();
  std::optional<BatchBalancer> balancer = batch_balancer(c, mpi, *data.loader, resume);
  CheckpointWriter checkpoints(c.checkpoint, mpi, cfg.to_yaml(), faults);
  if (resume_from) {
    load_checkpoint(*resume_from, trainer, mpi.rank());
    spdlog::info("resumed from {} at step {} (saved by {} rank(s))", resume_from->string(), resume.step,
                 manifest.at("world_size").get<int>());
  }
  log_run(cfg, model, *data.loader, data.stores.size(), mpi.world_size(), c.global_batch, options.grad_accum,
          options.max_steps);

  // The steps, then the release (or, when stopped early, how to resume).
  StopAndCheckpoint stop_and_checkpoint({checkpoints, trainer, *data.loader, *data.val_loader, signals, mpi, comm}, c.loop,
                                        std::deque<double>(resume.loss_tail.begin(), resume.loss_tail.end()),
                                        balancer ? &*balancer : nullptr);
  Progress progress(trainer, *data.val_loader, run_dir, mpi, c.loop, balancer.has_value());
  std::vector<Callback*> callbacks;
  std::optional<Rebalance> rebalance;
  if (balancer) callbacks.push_back(&rebalance.emplace(*balancer, *data.loader, comm, mpi, options.grad_accum));
  callbacks.push_back(&progress);
  callbacks.push_back(&stop_and_checkpoint);
  const FitResult fitted = fit(trainer, *data.loader, callbacks);
  const PretrainResult result{fitted.steps, fitted.first_loss, fitted.last_loss, fitted.stopped == Stop::signal,
                              fitted.stopped == Stop::early};
  if (mpi.is_root() && fitted.stopped != Stop::no) {
    spdlog::info("stopped at step {} of {}: resume with train.resume=auto (same checkpoint.dir or hydra.run.dir)",
                 trainer.steps_done(), options.max_steps);
  } else if (mpi.is_root()) {
    write_final_release(cfg, run_dir, tokenizer_path, model, result, mpi.world_size(), c.global_batch, fitted.seconds);
    spdlog::info("done: {} steps in {}, loss {:.4f} -> {:.4f}, {:.0f} tokens/s overall; release in {}", result.steps,
                 duration_text(fitted.seconds), result.first_loss, result.last_loss, fitted.tokens / fitted.seconds,
                 (run_dir / "final").string());
  }
  mpi.barrier();
  return result;
}

}  // namespace rslicer::train
