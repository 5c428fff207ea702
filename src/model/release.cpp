#include "model/release.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;

namespace rslicer::model {

namespace {

torch::ScalarType torch_dtype(DType d) {
  switch (d) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}

}  // namespace

std::string LoadReport::summary() const {
  std::string s = std::to_string(loaded.size()) + " tensors loaded";
  if (!missing.empty()) {
    s += ", " + std::to_string(missing.size()) + " missing:";
    for (std::size_t i = 0; i < missing.size() && i < 10; ++i) s += " " + missing[i];
  }
  if (!unexpected.empty()) {
    s += ", " + std::to_string(unexpected.size()) + " unexpected:";
    for (std::size_t i = 0; i < unexpected.size() && i < 10; ++i) s += " " + unexpected[i];
  }
  return s;
}

LoadReport load_weights(torch::nn::Module& module, const fs::path& source, const std::string& module_prefix) {
  SafetensorsCollection files(source);
  LoadReport report;
  auto params = module.named_parameters();
  std::map<std::string, torch::Tensor> by_name;
  for (auto& p : params) {
    std::string name = p.key();
    if (!module_prefix.empty() && name.rfind(module_prefix, 0) == 0) name = name.substr(module_prefix.size());
    by_name[name] = p.value();
  }
  torch::NoGradGuard no_grad;
  std::set<std::string> seen;
  for (const auto& [key, view] : files.tensors()) {
    auto it = by_name.find(key);
    if (it == by_name.end()) {
      report.unexpected.push_back(key);
      continue;
    }
    if (view.shape != it->second.sizes().vec())
      throw Error("tensor '" + key + "' has shape " + c10::str(c10::IntArrayRef(view.shape)) + ", the model has " +
                      c10::str(it->second.sizes()),
                  source.string(), "weights of the configured architecture (config.json)");
    auto t = torch::from_blob(const_cast<void*>(view.data), view.shape, torch::TensorOptions().dtype(torch_dtype(view.dtype)));
    it->second.copy_(t.to(it->second.scalar_type()));
    report.loaded.push_back(key);
    seen.insert(key);
  }
  for (const auto& [name, t] : by_name)
    if (!seen.count(name)) report.missing.push_back(name);
  return report;
}

LoadReport load_hf_backbone(Qwen3Model& backbone, const fs::path& dir) {
  // Qwen3-Embedding stores "layers.0...." (a Qwen3Model); causal-LM checkpoints store "model.layers.0....".
  SafetensorsCollection probe(dir);
  bool prefixed = false;
  for (const auto& [key, view] : probe.tensors()) prefixed = prefixed || key.rfind("model.", 0) == 0;
  if (!prefixed) return load_weights(*backbone, dir);
  // Re-key through a wrapper module whose parameter names carry the prefix.
  torch::nn::Module wrapper;
  wrapper.register_module("model", backbone.ptr());
  LoadReport r = load_weights(wrapper, dir);
  // lm_head.weight of causal-LM checkpoints is not part of an embedding model.
  r.unexpected.erase(std::remove(r.unexpected.begin(), r.unexpected.end(), "lm_head.weight"), r.unexpected.end());
  return r;
}

void write_release(const fs::path& dir, RuntimeSlicer& model, const ReleaseInfo& info) {
  fs::create_directories(dir);
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& p : model->named_parameters()) {
    keep.push_back(p.value().detach().to(torch::kFloat32).contiguous());
    tensors.push_back({p.key(), DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(),
                       static_cast<std::size_t>(keep.back().numel()) * 4});
  }
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}, {"producer", "rslicer"}});
  nlohmann::json config = nlohmann::json::parse(info.backbone.to_json());
  config["rslicer"] = {{"fusion", {{"hidden_dim", info.fusion.hidden_dim}, {"out_dim", info.fusion.out_dim},
                                   {"gating", info.fusion.gating}}},
                       {"mrl_dim", info.mrl_dim},
                       {"summary", nlohmann::json::parse(info.summary_json, nullptr, false)}};
  write_file_atomic(dir / "config.json", config.dump(2));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (!info.tokenizer_dir.empty() && fs::exists(info.tokenizer_dir / f))
      fs::copy_file(info.tokenizer_dir / f, dir / f, fs::copy_options::overwrite_existing);
  if (!info.model_card.empty()) write_file_atomic(dir / "README.md", info.model_card);
}

RuntimeSlicer load_release(const fs::path& dir, ReleaseInfo* info_out) {
  if (!fs::exists(dir / "config.json"))
    throw Error("no config.json", dir.string(), "a release directory (rslicer export or pretrain's final/)");
  Qwen3Config backbone = Qwen3Config::from_json_file(dir / "config.json");
  std::ifstream in(dir / "config.json");
  auto j = nlohmann::json::parse(in);
  FusionConfig fusion;
  std::int64_t mrl = 0;
  if (j.contains("rslicer")) {
    const auto& f = j["rslicer"]["fusion"];
    fusion.hidden_dim = f.value("hidden_dim", fusion.hidden_dim);
    fusion.out_dim = f.value("out_dim", fusion.out_dim);
    fusion.gating = f.value("gating", fusion.gating);
    mrl = j["rslicer"].value("mrl_dim", std::int64_t{0});
  }
  RuntimeSlicer model(backbone, fusion, mrl);
  LoadReport r = load_weights(*model, dir);
  if (!r.missing.empty() || !r.unexpected.empty())
    throw Error("release weights do not match its config: " + r.summary(), dir.string(),
                "model.safetensors written with this config.json");
  if (info_out) {
    info_out->backbone = backbone;
    info_out->fusion = fusion;
    info_out->mrl_dim = mrl;
    if (j.contains("rslicer") && j["rslicer"].contains("summary")) info_out->summary_json = j["rslicer"]["summary"].dump();
  }
  return model;
}

std::string model_card(const TrainingRecord& r, const ReleaseInfo& info) {
  std::string card = fmt::format(
      "# RuntimeSlicer state encoder ({})\n\n"
      "{}: step {}, trained on {} rank(s), global batch {}.\n\n"
      "- Data: {}\n- Training loss: {}\n- Backbone: Qwen3, {} layers, hidden {}, vocabulary {}\n"
      "- Fusion: hidden {}, output {}, gating {}\n\n",
      r.model_name, r.origin, r.steps, r.world_size, r.global_batch, fmt::join(r.stores, ", "), r.losses,
      info.backbone.num_hidden_layers, info.backbone.hidden_size, info.backbone.vocab_size, info.fusion.hidden_dim,
      info.fusion.out_dim, info.fusion.gating ? "on" : "off");
  if (!r.evaluation.empty()) card += r.evaluation + "\n\n";
  card += "Load with `rslicer embed embed.release=<this dir>`; fine-tune with `rslicer pretrain "
          "train.init_from=<this dir>`.\n";
  if (!r.training_config_yaml.empty()) card += "\n## Training config\n\n```yaml\n" + r.training_config_yaml + "```\n";
  return card;
}

}  // namespace rslicer::model
