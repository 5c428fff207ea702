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
#include "data/tokenizer.h"
#include "model/safetensors.h"
#include "train/batch_balancer.h"
#include "train/checkpoint.h"
#include "train/device.h"
#include "train/trainer.h"
#include "tuning/split.h"

namespace fs = std::filesystem;

namespace rslicer::train {

namespace {

// Set by SIGTERM/SIGUSR1; read at step boundaries. A signal handler may only touch a lock-free atomic.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal); }

// Installs the handlers for the lifetime of the run and restores the previous ones after.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGUSR1, &action, &old_usr1_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

// metrics.jsonl: one JSON object a line, flushed per line (rank 0).
class MetricsWriter {
 public:
  explicit MetricsWriter(const fs::path& path) : out_(path, std::ios::app) {
    if (!out_) throw Error("cannot write metrics", path.string(), "a writable run directory");
  }
  void write(const nlohmann::json& j) { out_ << j.dump() << "\n" << std::flush; }

 private:
  std::ofstream out_;
};

std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(seconds / 3600), std::fmod(seconds / 60, 60));
}

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

CheckpointPolicy checkpoint_policy(const config::Config& cfg, const fs::path& run_dir) {
  CheckpointPolicy policy;
  policy.root = cfg.is_null("checkpoint.dir") ? run_dir / "checkpoints" : fs::path(cfg.get_string("checkpoint.dir"));
  policy.every_steps = cfg.get_int("checkpoint.every_steps");
  policy.every_minutes = cfg.get_double("checkpoint.every_minutes");
  policy.keep_last = cfg.get_int("checkpoint.keep_last");
  policy.keep_steps = cfg.get_int_list("checkpoint.keep_steps");
  policy.async = cfg.get_bool("checkpoint.async");
  return policy;
}

// train.resume: null (fresh), auto (the newest complete checkpoint under the checkpoint dir, else fresh), or a
// checkpoint directory. Rank 0 decides; every rank gets the same answer.
std::optional<fs::path> checkpoint_to_resume(const config::Config& cfg, const CheckpointPolicy& policy,
                                             const dist::MpiContext& mpi) {
  if (cfg.is_null("train.resume")) return std::nullopt;
  const std::string resume = cfg.get_string("train.resume");
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

// loader.worker_cpus: auto | none | [cpu ids] -> the CPUs the loader's workers are pinned to (empty: not pinned).
std::vector<int> worker_cpus_from_config(const config::Config& cfg, const dist::MpiContext& mpi) {
  const YAML::Node node = cfg.node()["loader"]["worker_cpus"];
  if (node.IsSequence()) {
    std::vector<int> cpus;
    for (auto c : cfg.get_int_list("loader.worker_cpus")) cpus.push_back(static_cast<int>(c));
    return cpus;
  }
  const std::string mode = cfg.get_string("loader.worker_cpus");
  if (mode == "none") return {};
  if (mode != "auto")
    throw ConfigError("'" + mode + "' is not a CPU placement", "loader.worker_cpus", "auto, none or a list of CPU ids");
  // A rank whose CPUs are its own (mpirun/srun bound it) splits them all; ranks that share CPUs (unbound, in one
  // node or one cgroup) each take their slice of them.
  const CpuShare share = cpu_share(mpi.node_cpus().per_rank, mpi.node_cpus().me);
  auto cpus = data::plan_worker_cpus(allowed_cpus(), share.index, share.count,
                                     static_cast<int>(cfg.get_int("train.trainer.intra_op_threads")));
  if (cpus.empty())
    spdlog::info("loader workers not pinned: no CPU to spare beside {} compute thread(s) per rank",
                 cfg.get_int("train.trainer.intra_op_threads"));
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

using Stores = std::vector<std::shared_ptr<const data::WindowStoreReader>>;

// The loader's options from the config (data.*, loader.*, split.*); `resume` gives train.balance's split schedule
// where it still fits.
data::LoaderOptions loader_options(const config::Config& cfg, const dist::MpiContext& mpi, std::uint64_t seed,
                                   std::size_t micro_batch, const Stores& stores, const TrainingCursor& resume) {
  data::LoaderOptions lo;
  lo.global_batch = micro_batch;
  lo.cluster_size = static_cast<std::size_t>(cfg.get_int("loader.cluster_size"));
  lo.workers = static_cast<std::size_t>(cfg.get_int("loader.workers"));
  lo.prefetch = static_cast<std::size_t>(cfg.get_int("loader.prefetch"));
  lo.max_tokens = static_cast<std::size_t>(cfg.get_int("loader.max_tokens"));
  lo.show_time = cfg.get_bool("loader.serializer.show_time");
  lo.mask_event_params = cfg.get_bool("loader.serializer.mask_event_params");
  lo.level_z = cfg.get_double("loader.serializer.level_z");
  lo.component_views = cfg.get_double("loader.component_views");
  lo.seed = seed;
  lo.rank = mpi.rank();
  lo.world = mpi.world_size();
  lo.worker_cpus = worker_cpus_from_config(cfg, mpi);
  // train.balance goes on with the split the checkpoint's run had reached, where it still fits (the same ranks
  // and global batch); otherwise from equal parts.
  if (!resume.splits.empty() && cfg.get_bool("train.balance.enabled")) {
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
  lo.windows_per_store = tuning::training_prefix(tuning::window_rows(stores), tuning::split_options(cfg));
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

// The trainer's options from the config (train.*, loss.*, dist.*, model.precision); train.epochs counts the
// loader's batches.
TrainOptions train_options(const config::Config& cfg, std::int64_t grad_accum, const data::WindowLoader& loader) {
  TrainOptions o;
  o.max_steps = cfg.get_int("train.max_steps");
  o.grad_accum = grad_accum;
  o.lr = cfg.get_double("train.lr");
  o.min_lr_ratio = cfg.get_double("train.min_lr_ratio");
  o.weight_decay = cfg.get_double("train.weight_decay");
  o.adam_eps = cfg.get_double("train.adam_eps");
  o.warmup_steps = cfg.get_int("train.warmup_steps");
  o.grad_clip = cfg.get_double("train.grad_clip");
  o.learnable_temperature = cfg.get_bool("loss.learnable_temperature");
  o.zero1 = cfg.get_bool("train.zero1");
  o.sparse_embedding = cfg.get_bool("train.sparse_embedding");
  o.optimizer_kernel = parse_optimizer_kernel(cfg.get_string("train.trainer.optimizer_kernel"));
  if (cfg.get_bool("train.cached_loss.enabled")) {
    o.cached_chunk_windows = cfg.get_int("train.cached_loss.chunk_windows");
    if (o.cached_chunk_windows < 1)
      throw ConfigError("chunk_windows " + std::to_string(o.cached_chunk_windows), "train.cached_loss.chunk_windows",
                        "a positive number of windows per chunk");
  }
  o.precision = model::parse_precision(cfg.get_string("model.precision"));
  o.nonfinite = cfg.get_string("train.nonfinite");
  if (o.nonfinite != "skip" && o.nonfinite != "stop")
    throw ConfigError("train.nonfinite '" + o.nonfinite + "'", "train.nonfinite", "skip or stop");
  o.max_consecutive_skips = cfg.get_int("train.max_consecutive_skips");
  o.loss = {cfg.get_double("loss.temperature"), cfg.get_double("loss.lambda_temp"), cfg.get_double("loss.lambda_anom"),
            cfg.get_double("loss.delta"), cfg.get_double("loss.gamma"), cfg.get_double("loss.lambda_modal"),
            cfg.get_bool("loss.mask_overlapping")};
  o.reducer.first_bucket_bytes = static_cast<std::size_t>(cfg.get_double("dist.first_bucket_mb") * (1 << 20));
  o.reducer.bucket_bytes = static_cast<std::size_t>(cfg.get_double("dist.bucket_mb") * (1 << 20));
  if (!cfg.is_null("train.epochs")) {
    // Passes over the data instead of a step count: an epoch is the sampler's batches, grad_accum per step.
    const auto per_epoch = static_cast<std::int64_t>(loader.sampler().batches_per_epoch()) / grad_accum;
    o.max_steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(cfg.get_double("train.epochs") * per_epoch)));
    spdlog::info("train.epochs={} x {} steps per epoch = {} steps", cfg.get_double("train.epochs"), per_epoch, o.max_steps);
  }
  return o;
}

// train.balance (more than one rank): the split of each global batch follows the ranks' pace, starting from the
// split in force once the schedule's pending changes (a resumed run's) have taken effect.
std::optional<BatchBalancer> batch_balancer(const config::Config& cfg, const dist::MpiContext& mpi,
                                            const data::LoaderOptions& lo, data::WindowLoader& loader) {
  if (!cfg.get_bool("train.balance.enabled") || mpi.world_size() < 2) return std::nullopt;
  BalanceOptions bo;
  bo.smoothing = cfg.get_double("train.balance.smoothing");
  bo.min_gain = cfg.get_double("train.balance.min_gain");
  bo.skip_steps = cfg.get_int("train.balance.skip_steps");
  bo.settle_steps = cfg.get_int("train.balance.settle_steps");
  bo.memory_steps = cfg.get_int("train.balance.memory_steps");
  bo.measured_margin = cfg.get_double("train.balance.measured_margin");
  return BatchBalancer(lo.splits.empty() ? loader.split_at(loader.next_step()) : lo.splits.rbegin()->second, bo);
}

// The model as pre-training starts it: built from model.*, initialised from train.init_from (unless resuming,
// where the checkpoint brings the weights), frozen layers, activation checkpointing, packing, fused attention.
model::RuntimeSlicer model_to_train(const config::Config& cfg, std::uint64_t seed, bool resuming) {
  model::RuntimeSlicer model = build_model(cfg.sub("model"), seed);
  if (!cfg.is_null("train.init_from") && !resuming)
    initialise_from(model, cfg.get_string("train.init_from"), cfg.get_bool("train.init_strict"));
  model->model->freeze(cfg.get_int("train.freeze_layers"), cfg.get_bool("train.freeze_embeddings"));
  model->model->activation_checkpointing = cfg.get_bool("model.activation_checkpointing");
  model->model->pack_sequences = cfg.get_bool("model.pack_sequences");
  model::apply_fused_attention(*model->model, cfg.get_string("model.fused_attention"));
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
                            {"seconds", seconds}, {"stopped_by_signal", result.stopped_by_signal}};
  info.summary_json = summary.dump();
  info.tokenizer_dir = tokenizer_path.parent_path();
  info.model_card = model::model_card(
      {cfg.get_string("model.name"), "Pre-trained with `rslicer pretrain`", result.steps, world,
       static_cast<std::int64_t>(global_batch), cfg.get_string_list("data.stores"),
       fmt::format("{:.4f} -> {:.4f}", result.first_loss, result.last_loss), "", ""},
      info);
  model::write_release(run_dir / "final", model, info);
}

// The step loop and what it calls between steps: stop signals, time- and step-based checkpoints, the batch
// balancer, metrics and progress lines, validation.
class StepLoop {
 public:
  struct Parts {
    const config::Config& cfg;
    const dist::MpiContext& mpi;
    dist::Communicator& comm;
    Trainer& trainer;
    data::WindowLoader& loader;
    data::WindowLoader& val_loader;
    CheckpointWriter& checkpoints;
    std::optional<BatchBalancer>& balancer;
    const fs::path& run_dir;
  };
  StepLoop(Parts parts, std::int64_t max_steps, std::deque<double> loss_tail)
      : p_(parts), max_steps_(max_steps), loss_tail_(std::move(loss_tail)),
        grad_accum_(parts.cfg.get_int("train.grad_accum")), log_every_(parts.cfg.get_int("train.log_every")),
        val_every_(parts.cfg.get_int("train.val_every")), val_batches_(parts.cfg.get_int("train.val_batches")),
        stop_after_(parts.cfg.is_null("train.stop_after_steps") ? 0 : parts.cfg.get_int("train.stop_after_steps")) {
    if (p_.mpi.is_root()) metrics_ = std::make_unique<MetricsWriter>(p_.run_dir / "metrics.jsonl");
  }

  // Runs the steps left, then the final checkpoint (at the end, on a signal or a stop_after); returns the figures.
  PretrainResult run() {
    start_ = std::chrono::steady_clock::now();
    first_step_ = p_.trainer.steps_done();
    for (std::int64_t step = first_step_; step < max_steps_; ++step) {
      if (stop_or_save_on_time(step)) break;
      const StepStats s = one_step(step);
      if (stop_after_ > 0 && step + 1 - first_step_ >= stop_after_ && step + 1 < max_steps_) {
        spdlog::info("train.stop_after_steps={} reached: checkpointing and stopping after step {}", stop_after_, step + 1);
        result_.stopped_early = true;
        break;
      }
      if (p_.checkpoints.due_by_steps(step + 1) && step + 1 < max_steps_) save_checkpoint();
    }
    if (result_.stopped_by_signal || result_.stopped_early || p_.cfg.get_bool("checkpoint.at_end")) save_checkpoint();
    p_.checkpoints.finish_pending();
    return result_;
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  double tokens() const { return tokens_total_; }

 private:
  Parts p_;
  std::int64_t max_steps_;
  std::deque<double> loss_tail_;
  std::int64_t grad_accum_, log_every_, val_every_, val_batches_, stop_after_;
  std::unique_ptr<MetricsWriter> metrics_;
  PretrainResult result_;
  std::chrono::steady_clock::time_point start_;
  std::int64_t first_step_ = 0;
  double tokens_total_ = 0;

  // Every rank stops (and saves on time) at the same step: the flags are all-reduced (a signal may reach ranks at
  // different times; rank 0's clock decides the time-based save). True: stop before `step`.
  bool stop_or_save_on_time(std::int64_t step) {
    p_.checkpoints.finish_pending();  // an async save started last step completes here
    torch::Tensor flags = torch::tensor({static_cast<std::int64_t>(g_stop_signal.load()),
                                         static_cast<std::int64_t>(p_.mpi.is_root() && p_.checkpoints.due_by_time())});
    p_.comm.allreduce(flags, dist::ReduceOp::max)->wait();
    if (flags[0].item<std::int64_t>() != 0) {
      spdlog::warn("signal {} received: checkpointing and stopping after step {}", flags[0].item<std::int64_t>(), step);
      result_.stopped_by_signal = true;
      return true;
    }
    if (flags[1].item<std::int64_t>() != 0 && step > first_step_) save_checkpoint();
    return false;
  }

  StepStats one_step(std::int64_t step) {
    std::vector<data::Batch> micro;
    for (std::int64_t k = 0; k < grad_accum_; ++k) micro.push_back(p_.loader.next());
    const StepStats s = p_.trainer.step(micro);
    rebalance(s, micro.front().rank_windows);
    torch::Tensor counts = torch::tensor({static_cast<std::int64_t>(s.windows), static_cast<std::int64_t>(s.tokens)});
    p_.comm.allreduce(counts, dist::ReduceOp::sum)->wait();
    const double windows = static_cast<double>(counts[0].item<std::int64_t>());
    const double tokens = static_cast<double>(counts[1].item<std::int64_t>());
    tokens_total_ += tokens;
    if (step == first_step_) result_.first_loss = s.loss;
    result_.last_loss = s.loss;
    result_.steps = step + 1;
    loss_tail_.push_back(s.loss);
    if (loss_tail_.size() > 20) loss_tail_.pop_front();
    report(step, s, windows, tokens, micro.front().rank_windows);
    return s;
  }

  // train.balance: a new split takes effect at the first step the loader has not started building.
  void rebalance(const StepStats& s, const std::vector<std::int64_t>& rank_windows) {
    if (!p_.balancer || !p_.balancer->observe(s.compute_seconds / static_cast<double>(std::max<std::size_t>(s.windows, 1)),
                                              rank_windows, p_.comm))
      return;
    const std::uint64_t from = p_.loader.next_step() + p_.loader.options().prefetch;
    p_.loader.set_split_from(from, p_.balancer->split());
    if (p_.mpi.is_root())
      spdlog::info("train.balance: windows per rank {} from step {} ({}seconds per window {:.4f})",
                   fmt::join(p_.balancer->split(), "/"), from / static_cast<std::uint64_t>(grad_accum_) + 1,
                   p_.balancer->moved_back() ? "back: the split left measured slower; " : "",
                   fmt::join(p_.balancer->pace(), "/"));
  }

  // The step's metrics line (with validation when due) and its progress line.
  void report(std::int64_t step, const StepStats& s, double windows, double tokens,
              const std::vector<std::int64_t>& rank_windows) {
    const double elapsed = seconds();
    const double eta = elapsed / static_cast<double>(step + 1 - first_step_) * static_cast<double>(max_steps_ - step - 1);
    nlohmann::json line = {{"step", step + 1},          {"loss", s.loss},         {"modal", s.modal},
                           {"temporal", s.temporal},    {"anomaly", s.anomaly},   {"lr", s.lr},
                           {"grad_norm", s.grad_norm},  {"windows_per_s", windows / s.seconds},
                           {"tokens_per_s", tokens / s.seconds}, {"step_s", s.seconds},
                           {"comm_wait_s", s.comm_wait_seconds}, {"elapsed_s", elapsed}, {"skipped", s.skipped}};
    if (p_.balancer) line["rank_windows"] = rank_windows;
    if (val_every_ > 0 && ((step + 1) % val_every_ == 0 || step + 1 == max_steps_)) {
      double v = 0;
      for (std::int64_t k = 0; k < val_batches_; ++k) v += p_.trainer.evaluate(p_.val_loader.next()).total.item<double>();
      line["val_loss"] = v / static_cast<double>(std::max<std::int64_t>(val_batches_, 1));
    }
    if (metrics_) metrics_->write(line);
    if (p_.mpi.is_root() && (step % log_every_ == 0 || step + 1 == max_steps_))
      spdlog::info("step {}/{} | loss {:.4f} (modal {:.4f} temp {:.4f} anom {:.4f}){} | lr {:.2e} | {:.1f} windows/s "
                   "{:.0f} tokens/s | ETA {}",
                   step + 1, max_steps_, s.loss, s.modal, s.temporal, s.anomaly,
                   line.contains("val_loss") ? fmt::format(" val {:.4f}", line["val_loss"].get<double>()) : "", s.lr,
                   windows / s.seconds, tokens / s.seconds, duration_text(eta));
  }

  void save_checkpoint() {
    TrainingCursor cursor;
    cursor.step = p_.trainer.steps_done();
    cursor.data_step = p_.loader.next_step();
    cursor.val_data_step = p_.val_loader.next_step();
    cursor.loss_tail.assign(loss_tail_.begin(), loss_tail_.end());
    if (p_.balancer) cursor.splits = p_.loader.splits_from(cursor.data_step);
    p_.checkpoints.save(p_.trainer, cursor);
  }
};

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
  spdlog::info("{}", blas_kernel().describe());
}

}  // namespace

PretrainResult run_pretraining(const config::Config& cfg, const fs::path& run_dir, const dist::MpiContext& mpi) {
  StopSignals signals;
  torch::set_num_threads(static_cast<int>(cfg.get_int("train.trainer.intra_op_threads")));
  apply_allocator_policy_from_config(cfg, "train.trainer.allocator");
  const torch::Device device = training_device(cfg.get_string("train.trainer.device"), mpi);
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  torch::manual_seed(seed);

  // Data: stores, tokenizer, the loaders (resumed at the checkpoint's cursor).
  const auto stores = open_stores(cfg.get_string_list("data.stores"));
  const auto val_paths = cfg.get_string_list("data.val_stores");
  const auto val_stores = val_paths.empty() ? stores : open_stores(val_paths);
  const fs::path tokenizer_path = tokenizer_path_from_config(cfg.sub("model"));
  auto tokenizer = std::make_shared<const data::Tokenizer>(data::Tokenizer::from_file(tokenizer_path));
  const auto grad_accum = cfg.get_int("train.grad_accum");
  const auto global_batch = static_cast<std::size_t>(cfg.get_int("train.global_batch"));
  if (grad_accum < 1 || global_batch % static_cast<std::size_t>(grad_accum * mpi.world_size()) != 0)
    throw ConfigError("train.global_batch " + std::to_string(global_batch) +
                          " must be a multiple of grad_accum x ranks (" + std::to_string(grad_accum) + " x " +
                          std::to_string(mpi.world_size()) + ")",
                      "train.global_batch", "a divisible global batch");
  const CheckpointPolicy policy = checkpoint_policy(cfg, run_dir);
  const std::optional<fs::path> resume_from = checkpoint_to_resume(cfg, policy, mpi);
  const TrainingCursor resume_cursor =
      resume_from ? training_cursor(read_checkpoint_manifest(*resume_from), *resume_from) : TrainingCursor{};
  const data::LoaderOptions lo =
      loader_options(cfg, mpi, seed, global_batch / static_cast<std::size_t>(grad_accum), stores, resume_cursor);
  if (mpi.is_root()) log_pretraining_windows(stores, lo.windows_per_store, cfg.get_string("split.by"));
  data::WindowLoader loader(stores, tokenizer, lo, resume_cursor.data_step);
  data::WindowLoader val_loader(val_stores, tokenizer, validation_options(lo, !val_paths.empty()),
                                resume_cursor.val_data_step);

  // Model, communicator, trainer, balancer, checkpoints (resumed from the checkpoint when there is one).
  const std::chrono::milliseconds timeout(static_cast<long>(cfg.get_double("dist.timeout_s") * 1000));
  dist::MpiCommunicator mpi_comm(MPI_COMM_WORLD, timeout,
                                 dist::parse_wait_policy(cfg.get_string("dist.wait"), mpi.node_cpus()));
  TrainingCommunicator training_comm(device, cfg.get_string("dist.backend"), mpi_comm, mpi, timeout);
  dist::Communicator& comm = training_comm.get();
  if (mpi.is_root())
    spdlog::info("training on {}; collectives: {} (MPI waits by {})", device.str(), training_comm.description(),
                 dist::to_string(mpi_comm.wait_policy()));
  model::RuntimeSlicer model = model_to_train(cfg, seed, resume_from.has_value());
  TrainOptions o = train_options(cfg, grad_accum, loader);
  o.device = device;
  const FaultInjector faults = FaultInjector::from_environment();  // test hooks (train/fault_injector.h)
  Trainer trainer(model, comm, o, faults);
  trainer.broadcast_parameters();
  std::optional<BatchBalancer> balancer = batch_balancer(cfg, mpi, lo, loader);
  CheckpointWriter checkpoints(policy, mpi, cfg.to_yaml(), faults);
  std::deque<double> loss_tail;
  if (resume_from) {
    TrainingCursor cursor = load_checkpoint(*resume_from, trainer, mpi.rank());
    loss_tail.assign(cursor.loss_tail.begin(), cursor.loss_tail.end());
    spdlog::info("resumed from {} at step {} (saved by {} rank(s))", resume_from->string(), cursor.step,
                 read_checkpoint_manifest(*resume_from).at("world_size").get<int>());
  }
  log_run(cfg, model, loader, stores.size(), mpi.world_size(), global_batch, grad_accum, o.max_steps);

  // The steps, then the release (or, when stopped early, how to resume).
  StepLoop loop({cfg, mpi, comm, trainer, loader, val_loader, checkpoints, balancer, run_dir}, o.max_steps,
                std::move(loss_tail));
  const PretrainResult result = loop.run();
  const double total_s = loop.seconds();
  if (mpi.is_root() && (result.stopped_by_signal || result.stopped_early)) {
    spdlog::info("stopped at step {} of {}: resume with train.resume=auto (same checkpoint.dir or hydra.run.dir)",
                 trainer.steps_done(), o.max_steps);
  } else if (mpi.is_root()) {
    write_final_release(cfg, run_dir, tokenizer_path, model, result, mpi.world_size(), global_batch, total_s);
    spdlog::info("done: {} steps in {}, loss {:.4f} -> {:.4f}, {:.0f} tokens/s overall; release in {}", result.steps,
                 duration_text(total_s), result.first_loss, result.last_loss, loop.tokens() / total_s,
                 (run_dir / "final").string());
  }
  mpi.barrier();
  return result;
}

}  // namespace rslicer::train
