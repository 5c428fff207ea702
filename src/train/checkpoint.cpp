#include "train/checkpoint.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;

namespace rslicer::train {

namespace {

constexpr int kFormatVersion = 1;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string shard_name(int rank, int world) { return fmt::format("shard-{:05d}-of-{:05d}.safetensors", rank, world); }

// One tensor to write: a host copy (async) or a view (sync) of the state.
struct ShardTensor {
  std::string name;
  torch::Tensor data;  // contiguous fp32 or uint8
};

model::TensorToWrite to_write(const ShardTensor& t) {
  const auto dtype = t.data.scalar_type() == torch::kUInt8 ? model::DType::U8 : model::DType::F32;
  return {t.name, dtype, t.data.sizes().vec(), t.data.data_ptr(), static_cast<std::size_t>(t.data.nbytes())};
}

// Writes one safetensors file and describes it for the manifest: bytes, SHA-256 of the file and of each tensor.
nlohmann::json write_shard_file(const fs::path& path, const std::vector<ShardTensor>& tensors,
                                const std::map<std::string, std::string>& metadata) {
  std::vector<model::TensorToWrite> out;
  nlohmann::json hashes = nlohmann::json::object();
  for (const auto& t : tensors) {
    out.push_back(to_write(t));
    hashes[t.name] = sha256_hex(t.data.data_ptr(), static_cast<std::size_t>(t.data.nbytes()));
  }
  model::write_safetensors(path, out, metadata);
  return {{"name", path.filename().string()}, {"bytes", fs::file_size(path)}, {"sha256", sha256_file(path)},
          {"tensors", hashes}};
}

// Opens a shard named by the manifest and checks it: size first (a truncated file names the tensor it cuts),
// then each tensor's SHA-256 as it is used.
class CheckedShard {
 public:
  CheckedShard(const fs::path& dir, const nlohmann::json& entry) : entry_(entry) {
    path_ = dir / entry.at("name").get<std::string>();
    if (!fs::exists(path_))
      throw Error("checkpoint file missing", path_.string(), "every file listed in manifest.json");
    const auto expected = entry.at("bytes").get<std::uintmax_t>();
    const auto actual = fs::file_size(path_);
    if (actual != expected) {
      std::string tensor = "its header";
      try {
        model::SafetensorsFile probe(path_);  // a header cut short or data cut short throws naming the tensor
      } catch (const Error& e) {
        tensor = e.what();
      }
      throw Error(fmt::format("checkpoint file has {} bytes, the manifest says {} (truncated?): {}", actual, expected,
                              tensor),
                  path_.string(), "the file as saved");
    }
    file_ = std::make_unique<model::SafetensorsFile>(path_);
  }

  // The tensor as fp32/uint8 bytes after its SHA-256 matched the manifest.
  const model::TensorView& tensor(const std::string& name) const {
    const model::TensorView& view = file_->at(name);
    const std::string expected = entry_.at("tensors").at(name).get<std::string>();
    if (sha256_hex(view.data, view.bytes) != expected)
      throw Error("checkpoint tensor '" + name + "' fails its SHA-256 check (bit rot or a modified file)",
                  path_.string(), "sha256 " + expected.substr(0, 16) + "... as in manifest.json");
    return view;
  }

 private:
  nlohmann::json entry_;
  fs::path path_;
  std::unique_ptr<model::SafetensorsFile> file_;
};

torch::Tensor tensor_from(const model::TensorView& v) {
  if (v.dtype != model::DType::F32) throw Error("checkpoint tensor is not F32", "checkpoint", "F32 tensors");
  return torch::from_blob(const_cast<void*>(v.data), {v.numel()}, torch::kFloat32).clone();
}

// [begin, end) ∩ [lo, hi)
bool overlap(std::int64_t begin, std::int64_t end, std::int64_t lo, std::int64_t hi, std::int64_t* from,
             std::int64_t* to) {
  *from = std::max(begin, lo);
  *to = std::min(end, hi);
  return *from < *to;
}

nlohmann::json layout_json(const FlatParameters& flat) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& e : flat.entries())
    tensors.push_back({{"name", e.name}, {"shape", e.shape}, {"dtype", "F32"}, {"flat_offset", e.offset}});
  return tensors;
}

// The model's flat layout must be the checkpoint's: same names, shapes and offsets.
void check_layout(const nlohmann::json& manifest, const FlatParameters& flat, const fs::path& dir) {
  const auto& saved = manifest.at("tensors");
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& t : saved) by_name[t.at("name").get<std::string>()] = t;
  std::vector<std::string> problems;
  for (const auto& e : flat.entries()) {
    auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      problems.push_back("missing " + e.name);
      continue;
    }
    if (it->second.at("shape").get<std::vector<std::int64_t>>() != e.shape)
      problems.push_back("shape of " + e.name);
    else if (it->second.at("flat_offset").get<std::int64_t>() != e.offset)
      problems.push_back("offset of " + e.name);
    by_name.erase(it);
  }
  for (const auto& [name, t] : by_name) problems.push_back("unexpected " + name);
  if (!problems.empty()) {
    std::string list;
    for (std::size_t i = 0; i < problems.size() && i < 5; ++i) list += (i ? ", " : "") + problems[i];
    if (problems.size() > 5) list += fmt::format(" and {} more", problems.size() - 5);
    throw Error("checkpoint does not fit this model (" + list + ")", dir.string(),
                "a checkpoint of the same model config and trainable parameters (use train.init_from for a "
                "partial load)");
  }
}

}  // namespace

fs::path checkpoint_path(const fs::path& root, std::int64_t step) { return root / fmt::format("step-{:06d}", step); }

bool checkpoint_complete(const fs::path& dir) { return fs::exists(dir / "DONE") && fs::exists(dir / "manifest.json"); }

std::optional<fs::path> latest_checkpoint(const fs::path& root) {
  std::optional<fs::path> best;
  long best_step = -1;
  if (!fs::is_directory(root)) return best;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !checkpoint_complete(entry.path())) continue;
    const long step = std::strtol(name.c_str() + 5, nullptr, 10);
    if (step > best_step) {
      best_step = step;
      best = entry.path();
    }
  }
  return best;
}

nlohmann::json read_checkpoint_manifest(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error("checkpoint not found", dir.string(), "a checkpoints/step-N directory");
  if (!checkpoint_complete(dir))
    throw Error("checkpoint is incomplete (no DONE marker: the save did not finish)", dir.string(),
                "a checkpoint whose save completed");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_text_file(dir / "manifest.json"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("manifest.json is not valid JSON: ") + e.what(), (dir / "manifest.json").string(),
                "the manifest rslicer wrote");
  }
  if (manifest.value("format_version", 0) != kFormatVersion)
    throw Error("checkpoint format version " + std::to_string(manifest.value("format_version", 0)),
                (dir / "manifest.json").string(), "format_version " + std::to_string(kFormatVersion));
  return manifest;
}

std::map<std::uint64_t, std::vector<std::int64_t>> checkpoint_splits(const nlohmann::json& manifest, const fs::path& dir) {
  std::map<std::uint64_t, std::vector<std::int64_t>> splits;
  const auto& cursor = manifest.at("data_cursor");
  if (!cursor.contains("splits")) return splits;
  try {
    for (const auto& entry : cursor.at("splits"))
      splits.emplace(entry.at("from_data_step").get<std::uint64_t>(), entry.at("rank_windows").get<std::vector<std::int64_t>>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("data_cursor.splits is malformed: ") + e.what(), (dir / "manifest.json").string(),
                "[{from_data_step, rank_windows}, ...] as rslicer writes it");
  }
  return splits;
}

// ---- writing ----

struct CheckpointWriter::Pending {
  std::int64_t step = 0;
  fs::path dir;
  nlohmann::json manifest;      // everything but files (rank 0)
  nlohmann::json result;        // this rank's: {"ok", "error", "files"}
  std::vector<ShardTensor> shard, frozen;
  std::map<std::string, std::string> metadata;
  std::thread thread;

  void write() {
    try {
      nlohmann::json files = nlohmann::json::array();
      files.push_back(write_shard_file(dir / shard_name(metadata.count("rank") ? std::stoi(metadata["rank"]) : 0,
                                                        std::stoi(metadata["world_size"])),
                                       shard, metadata));
      files.back()["rank"] = std::stoi(metadata["rank"]);
      files.back()["begin"] = std::stoll(metadata["begin"]);
      files.back()["end"] = std::stoll(metadata["end"]);
      if (!frozen.empty()) files.push_back(write_shard_file(dir / "frozen.safetensors", frozen, {}));
      result = {{"ok", true}, {"files", files}};
    } catch (const std::exception& e) {
      result = {{"ok", false}, {"error", e.what()}};
    }
    shard.clear();  // the host copies are no longer needed
    frozen.clear();
  }
};

CheckpointWriter::CheckpointWriter(CheckpointPolicy policy, const dist::MpiContext& mpi, std::string config_yaml,
                                   FaultInjector faults)
    : policy_(std::move(policy)), mpi_(mpi), config_yaml_(std::move(config_yaml)), faults_(faults),
      last_save_time_(now_seconds()) {}

CheckpointWriter::~CheckpointWriter() {
  if (pending_ && pending_->thread.joinable()) pending_->thread.join();
}

bool CheckpointWriter::due_by_steps(std::int64_t steps_done) const {
  return policy_.every_steps > 0 && steps_done > 0 && steps_done % policy_.every_steps == 0;
}

bool CheckpointWriter::due_by_time() const {
  return policy_.every_minutes > 0 && now_seconds() - last_save_time_ >= policy_.every_minutes * 60.0;
}

void CheckpointWriter::save(Trainer& trainer, const TrainingCursor& cursor) {
  finish_pending();
  const int rank = mpi_.rank(), world = mpi_.world_size();
  const std::int64_t step = trainer.steps_done();
  const fs::path dir = checkpoint_path(policy_.root, step);
  // A complete checkpoint of this step exists (a run resumed here): nothing to do. A directory without DONE is a
  // save that died: start it again.
  const bool exists = mpi_.broadcast(rank == 0 && checkpoint_complete(dir) ? "1" : "0") == "1";
  if (exists) return;
  if (rank == 0) {
    if (fs::exists(dir)) fs::remove_all(dir);
    fs::create_directories(dir);
  }
  mpi_.barrier();

  auto p = std::make_unique<Pending>();
  p->step = step;
  p->dir = dir;
  FlatParameters& flat = trainer.flat();
  const std::int64_t begin = flat.partition()[static_cast<std::size_t>(rank)];
  const std::int64_t end = flat.partition()[static_cast<std::size_t>(rank) + 1];
  Optimizer& optimizer = trainer.optimizer();
  const std::int64_t moments_offset = begin - optimizer.begin();
  const StateDict optimizer_state = optimizer.state_dict();
  // A host copy that outlives the step: the writer thread reads it while training goes on.
  auto keep = [&](const torch::Tensor& t) {
    const torch::Tensor host = t.to(torch::kCPU);
    return policy_.async ? host.clone() : host.contiguous();
  };
  p->shard = {{"params", keep(flat.params().narrow(0, begin, end - begin))},
              {"exp_avg", keep(optimizer_state.at("exp_avg").narrow(0, moments_offset, end - begin))},
              {"exp_avg_sq", keep(optimizer_state.at("exp_avg_sq").narrow(0, moments_offset, end - begin))},
              {"rng_state", at::detail::getDefaultCPUGenerator().get_state().clone()}};
  p->metadata = {{"rank", std::to_string(rank)},   {"world_size", std::to_string(world)},
                 {"begin", std::to_string(begin)}, {"end", std::to_string(end)},
                 {"step", std::to_string(step)},   {"producer", "rslicer"}};
  nlohmann::json frozen_index = nlohmann::json::array();
  for (const auto& item : trainer.model()->named_parameters())
    if (!item.value().requires_grad()) {
      if (rank == 0) p->frozen.push_back({item.key(), keep(item.value().detach().reshape({-1}))});
      frozen_index.push_back({{"name", item.key()}, {"shape", item.value().sizes().vec()}});
    }
  if (rank == 0) {
    nlohmann::json rng = nlohmann::json::array();
    for (int r = 0; r < world; ++r) rng.push_back({{"rank", r}, {"file", shard_name(r, world)}, {"tensor", "rng_state"}});
    p->manifest = {{"format_version", kFormatVersion},
                   {"step", step},
                   {"world_size", world},
                   {"config", config_yaml_},
                   {"numel", flat.numel()},
                   {"tensors", layout_json(flat)},
                   {"frozen", frozen_index},
                   {"partition", flat.partition()},
                   {"zero1", trainer.zero1()},
                   {"rng", rng},
                   {"data_cursor", {{"data_step", cursor.data_step}, {"val_data_step", cursor.val_data_step}}},
                   {"scheduler", {{"step", step}, {"optimizer_step", optimizer.steps()},
                                  {"lr", trainer.lr_at(std::max<std::int64_t>(step - 1, 0))}}},
                   {"loss_tail", cursor.loss_tail}};
    if (!cursor.splits.empty()) {
      nlohmann::json splits = nlohmann::json::array();
      for (const auto& [from, split] : cursor.splits) splits.push_back({{"from_data_step", from}, {"rank_windows", split}});
      p->manifest["data_cursor"]["splits"] = splits;
    }
    if (!cursor.balancer.is_null()) p->manifest["balancer"] = cursor.balancer;
  }
  if (policy_.async) {
    Pending* raw = p.get();
    p->thread = std::thread([raw] { raw->write(); });
    pending_ = std::move(p);
    return;
  }
  p->write();
  pending_ = std::move(p);
  finish_pending();
}

void CheckpointWriter::finish_pending() {
  if (!pending_) return;
  std::unique_ptr<Pending> p = std::move(pending_);
  if (p->thread.joinable()) p->thread.join();
  const int rank = mpi_.rank();
  faults_.after_shard_written(rank, p->step);
  // Every rank's outcome, everywhere: all complete the checkpoint or all fail with the same message.
  std::vector<std::string> results = mpi_.allgather(p->result.dump());
  std::string failure;
  nlohmann::json files = nlohmann::json::array();
  for (std::size_t r = 0; r < results.size(); ++r) {
    auto res = nlohmann::json::parse(results[r]);
    if (!res.at("ok").get<bool>() && failure.empty())
      failure = fmt::format("rank {}: {}", r, res.at("error").get<std::string>());
    else if (res.at("ok").get<bool>())
      for (const auto& f : res.at("files")) files.push_back(f);
  }
  if (!failure.empty()) {
    if (rank == 0) {
      std::error_code ignored;
      fs::remove_all(p->dir, ignored);
    }
    mpi_.barrier();
    throw Error("checkpoint of step " + std::to_string(p->step) + " not saved (" + failure +
                    "); earlier checkpoints are intact",
                p->dir.string(), "space and write access for the checkpoint");
  }
  if (rank == 0) {
    p->manifest["files"] = files;
    write_file_atomic(p->dir / "manifest.json", p->manifest.dump(1));
    fsync_directory(p->dir);
  }
  mpi_.barrier();  // every shard is fsynced (write_safetensors) and the manifest too
  if (rank == 0) {
    write_file_atomic(p->dir / "DONE", std::to_string(p->step) + "\n");
    fsync_directory(p->dir);
    fsync_directory(p->dir.parent_path());
    spdlog::info("checkpoint saved: {}", p->dir.string());
    apply_retention(p->step);
  }
  last_save_time_ = now_seconds();
  mpi_.barrier();
}

void CheckpointWriter::apply_retention(std::int64_t newest_step) const {
  std::vector<std::pair<long, fs::path>> complete;
  for (const auto& entry : fs::directory_iterator(policy_.root)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0) continue;
    const long step = std::strtol(name.c_str() + 5, nullptr, 10);
    if (checkpoint_complete(entry.path()))
      complete.emplace_back(step, entry.path());
    else if (step < newest_step)
      fs::remove_all(entry.path());  // a save that died before this one
  }
  if (policy_.keep_last <= 0) return;
  std::sort(complete.begin(), complete.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = static_cast<std::size_t>(policy_.keep_last); i < complete.size(); ++i) {
    const auto& keep = policy_.keep_steps;
    if (std::find(keep.begin(), keep.end(), complete[i].first) != keep.end()) continue;
    fs::remove(complete[i].second / "DONE");  // not loadable from here on, even if the removal is interrupted
    fs::remove_all(complete[i].second);
  }
}

// ---- reading ----

TrainingCursor load_checkpoint(const fs::path& dir, Trainer& trainer, int rank) {
  const nlohmann::json manifest = read_checkpoint_manifest(dir);
  FlatParameters& flat = trainer.flat();
  check_layout(manifest, flat, dir);
  const std::int64_t numel = flat.numel();
  Optimizer& optimizer = trainer.optimizer();
  StateDict optimizer_state = optimizer.state_dict();  // filled in place below, then loaded with its step count
  const std::int64_t mb = optimizer.begin(), me = optimizer.end();
  const int saved_world = manifest.at("world_size").get<int>();
  torch::NoGradGuard no_grad;
  std::int64_t params_filled = 0, moments_filled = 0;
  for (const auto& entry : manifest.at("files")) {
    if (!entry.contains("rank")) continue;
    CheckedShard shard(dir, entry);
    const std::int64_t begin = entry.at("begin").get<std::int64_t>(), end = entry.at("end").get<std::int64_t>();
    std::int64_t from = 0, to = 0;
    if (overlap(begin, end, 0, numel, &from, &to)) {
      flat.params().narrow(0, from, to - from).copy_(tensor_from(shard.tensor("params")).narrow(0, from - begin, to - from));
      params_filled += to - from;
    }
    if (overlap(begin, end, mb, me, &from, &to)) {
      for (const char* moment : {"exp_avg", "exp_avg_sq"})
        optimizer_state.at(moment).narrow(0, from - mb, to - from).copy_(
            tensor_from(shard.tensor(moment)).narrow(0, from - begin, to - from));
      moments_filled += to - from;
    }
    if (saved_world == static_cast<int>(trainer.flat().partition().size()) - 1 && entry.at("rank").get<int>() == rank) {
      const auto& v = shard.tensor("rng_state");
      auto state = torch::from_blob(const_cast<void*>(v.data), {v.numel()}, torch::kUInt8).clone();
      at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle on the global generator
      generator.set_state(state);
    }
  }
  if (params_filled != numel || moments_filled != me - mb)
    throw Error(fmt::format("checkpoint shards cover {} of {} parameters and {} of {} moments", params_filled, numel,
                            moments_filled, me - mb),
                dir.string(), "shards covering the whole partition");
  // Frozen parameters (not in the flat buffer) come from frozen.safetensors.
  for (const auto& entry : manifest.at("files")) {
    if (entry.contains("rank")) continue;
    CheckedShard shard(dir, entry);
    for (auto& item : trainer.model()->named_parameters())
      if (!item.value().requires_grad())
        item.value().detach().copy_(tensor_from(shard.tensor(item.key())).view(item.value().sizes()));
  }
  trainer.set_steps_done(manifest.at("step").get<std::int64_t>());
  optimizer_state["steps"] = torch::tensor(
      manifest.at("scheduler").value("optimizer_step", manifest.at("step").get<std::int64_t>()), torch::kInt64);
  optimizer.load_state_dict(optimizer_state);
  return training_cursor(manifest, dir);
}

TrainingCursor training_cursor(const nlohmann::json& manifest, const fs::path& dir) {
  TrainingCursor cursor;
  cursor.step = manifest.at("step").get<std::int64_t>();
  cursor.data_step = manifest.at("data_cursor").at("data_step").get<std::uint64_t>();
  cursor.val_data_step = manifest.at("data_cursor").at("val_data_step").get<std::uint64_t>();
  cursor.loss_tail = manifest.at("loss_tail").get<std::vector<double>>();
  cursor.splits = checkpoint_splits(manifest, dir);
  if (manifest.contains("balancer")) cursor.balancer = manifest.at("balancer");
  return cursor;
}

std::map<std::string, torch::Tensor> checkpoint_parameters(const fs::path& dir) {
  const nlohmann::json manifest = read_checkpoint_manifest(dir);
  const std::int64_t numel = manifest.at("numel").get<std::int64_t>();
  torch::Tensor flat = torch::zeros({numel}, torch::kFloat32);
  std::map<std::string, torch::Tensor> out;
  for (const auto& entry : manifest.at("files")) {
    CheckedShard shard(dir, entry);
    if (entry.contains("rank")) {
      const std::int64_t begin = entry.at("begin").get<std::int64_t>(), end = entry.at("end").get<std::int64_t>();
      flat.narrow(0, begin, end - begin).copy_(tensor_from(shard.tensor("params")));
    } else {
      for (const auto& f : manifest.at("frozen")) {
        const auto name = f.at("name").get<std::string>();
        out[name] = tensor_from(shard.tensor(name)).view(f.at("shape").get<std::vector<std::int64_t>>());
      }
    }
  }
  for (const auto& t : manifest.at("tensors"))
    out[t.at("name").get<std::string>()] =
        flat.narrow(0, t.at("flat_offset").get<std::int64_t>(),
                    [&] {
                      std::int64_t n = 1;
                      for (auto s : t.at("shape").get<std::vector<std::int64_t>>()) n *= s;
                      return n;
                    }())
            .view(t.at("shape").get<std::vector<std::int64_t>>())
            .clone();
  return out;
}

}  // namespace rslicer::train
