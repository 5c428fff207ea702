#include "train/pretrain_config.h"

#include "config/composer.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace rslicer::train {

namespace {

losses::LossOptions loss_options(const config::Config& cfg) {
  return {cfg.get_double("loss.temperature"), cfg.get_double("loss.lambda_temp"), cfg.get_double("loss.lambda_anom"),
          cfg.get_double("loss.delta"),       cfg.get_double("loss.gamma"),       cfg.get_double("loss.lambda_modal"),
          cfg.get_bool("loss.mask_overlapping"), cfg.get_double("loss.lambda_type"),
          cfg.get_double("loss.lambda_neighbourhood"), cfg.get_double("loss.neighbourhood_s")};
}

// The loader's settings from loader.* (the per-rank and per-run fields are filled at start).
data::LoaderOptions loader_settings(const config::Config& cfg) {
  data::LoaderOptions lo;
  lo.cluster_size = static_cast<std::size_t>(cfg.get_int("loader.cluster_size"));
  lo.workers = static_cast<std::size_t>(cfg.get_int("loader.workers"));
  lo.prefetch = static_cast<std::size_t>(cfg.get_int("loader.prefetch"));
  lo.serializer = read_loader_serializer(cfg);
  lo.serializer.max_tokens = static_cast<std::size_t>(cfg.get_int("loader.max_tokens"));  // required here
  lo.component_views = cfg.get_double("loader.component_views");
  lo.fault_pairs = static_cast<std::size_t>(cfg.get_int("loader.fault_pairs"));
  const std::string view = cfg.get_string("loader.fault_pair_view");
  if (view != "root_cause" && view != "window")
    throw ConfigError("'" + view + "' is not a view of a fault pair's windows", "loader.fault_pair_view", "root_cause or window");
  lo.fault_pair_root_views = view == "root_cause";
  return lo;
}

WorkerCpus worker_cpus(const config::Config& cfg) {
  if (cfg.node()["loader"]["worker_cpus"].IsSequence()) {
    WorkerCpus w{"list", {}};
    for (auto c : cfg.get_int_list("loader.worker_cpus")) w.list.push_back(static_cast<int>(c));
    return w;
  }
  const std::string mode = cfg.get_string("loader.worker_cpus");
  if (mode != "auto" && mode != "none")
    throw ConfigError("'" + mode + "' is not a CPU placement", "loader.worker_cpus", "auto, none or a list of CPU ids");
  return {mode, {}};
}

std::optional<BalanceOptions> balance_options(const config::Config& cfg) {
  if (!cfg.get_bool("train.balance.enabled")) return std::nullopt;
  return read_balance_options(cfg);
}

}  // namespace

BalanceOptions read_balance_options(const config::Config& cfg) {
  BalanceOptions bo;
  bo.smoothing = cfg.get_double("train.balance.smoothing");
  bo.min_gain = cfg.get_double("train.balance.min_gain");
  bo.skip_steps = cfg.get_int("train.balance.skip_steps");
  bo.settle_steps = cfg.get_int("train.balance.settle_steps");
  bo.memory_steps = cfg.get_int("train.balance.memory_steps");
  bo.measured_margin = cfg.get_double("train.balance.measured_margin");
  return bo;
}

namespace {

StepLoopOptions step_loop_options(const config::Config& cfg) {
  StepLoopOptions o;
  o.log_every = cfg.get_int("train.log_every");
  o.val_every = cfg.get_int("train.val_every");
  o.val_batches = cfg.get_int("train.val_batches");
  o.stop_after_steps = cfg.is_null("train.stop_after_steps") ? 0 : cfg.get_int("train.stop_after_steps");
  o.checkpoint_at_end = cfg.get_bool("checkpoint.at_end");
  return o;
}

ModelSetup model_setup(const config::Config& cfg) {
  ModelSetup m;
  m.init_from = cfg.get_optional_string("train.init_from");
  m.init_strict = cfg.get_bool("train.init_strict");
  m.freeze_layers = cfg.get_int("train.freeze_layers");
  m.freeze_embeddings = cfg.get_bool("train.freeze_embeddings");
  m.activation_checkpointing = cfg.get_bool("model.activation_checkpointing");
  m.pack_sequences = cfg.get_bool("model.pack_sequences");
  m.fused_attention = cfg.get_string("model.fused_attention");
  return m;
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

// train.global_batch must split into grad_accum micro-batches of equal parts per rank; checked again against the
// world size at start.
std::size_t global_batch(const config::Config& cfg) {
  const std::int64_t batch = cfg.get_int("train.global_batch");
  if (batch < 1) throw ConfigError("train.global_batch " + std::to_string(batch), "train.global_batch", "a positive number of windows");
  return static_cast<std::size_t>(batch);
}

}  // namespace

data::SerializerOptions read_serializer_options(const config::Config& cfg, const std::string& section) {
  data::SerializerOptions o;
  const std::string options = section + ".serializer.";
  auto flag = [&](const std::string& key, bool& out) {
    if (cfg.has(options + key)) out = cfg.get_bool(options + key);
  };
  if (cfg.has(section + ".max_tokens")) o.max_tokens = static_cast<std::size_t>(cfg.get_int(section + ".max_tokens"));
  flag("show_time", o.show_time);
  flag("mask_event_params", o.mask_event_params);
  flag("caller_wait", o.caller_wait);
  flag("sample_gaps", o.sample_gaps);
  if (cfg.has(options + "level_z")) o.level_z = cfg.get_double(options + "level_z");
  if (cfg.has(options + "system_kpis")) o.system_kpis = static_cast<std::size_t>(cfg.get_int(options + "system_kpis"));
  if (cfg.has(options + "metric_baseline")) o.metric_baseline = cfg.get_string(options + "metric_baseline");
  data::MetricBaseline::check_mode(o.metric_baseline, options + "metric_baseline");  // at start, naming the key
  return o;
}

TrainOptions read_train_options(const config::Config& cfg) {
  TrainOptions o;
  o.max_steps = cfg.get_int("train.max_steps");
  o.grad_accum = cfg.get_int("train.grad_accum");
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
  o.loss = loss_options(cfg);
  losses::check_loss_options(o.loss);
  o.reducer.first_bucket_bytes = static_cast<std::size_t>(cfg.get_double("dist.first_bucket_mb") * (1 << 20));
  o.reducer.bucket_bytes = static_cast<std::size_t>(cfg.get_double("dist.bucket_mb") * (1 << 20));
  return o;
}

config::Config compose_pretrain(const fs::path& config_dir, std::vector<std::string> overrides) {
  const config::Composer composer(config_dir);
  return config::Config(config::job_config(composer.compose({"pretrain", std::move(overrides)})));
}

PretrainConfig read_pretrain_config(const config::Config& cfg, const fs::path& run_dir) {
  PretrainConfig c;
  c.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  c.device = cfg.get_string("train.trainer.device");
  c.backend = cfg.get_string("dist.backend");
  c.wait = cfg.get_string("dist.wait");
  c.timeout_s = cfg.get_double("dist.timeout_s");
  c.intra_op_threads = static_cast<int>(cfg.get_int("train.trainer.intra_op_threads"));
  c.stores = cfg.get_string_list("data.stores");
  c.val_stores = cfg.get_string_list("data.val_stores");
  c.split = tuning::split_options(cfg);
  c.loader = loader_settings(cfg);
  c.worker_cpus = worker_cpus(cfg);
  c.global_batch = global_batch(cfg);
  if (!cfg.is_null("train.epochs")) c.epochs = cfg.get_double("train.epochs");
  c.train = read_train_options(cfg);
  c.balance = balance_options(cfg);
  c.loop = step_loop_options(cfg);
  c.model = model_setup(cfg);
  c.checkpoint = checkpoint_policy(cfg, run_dir);
  c.resume = cfg.get_optional_string("train.resume");
  return c;
}

}  // namespace rslicer::train
