#include "train/export.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/serializer_record.h"
#include "model/release.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"
#include "train/pretrain_config.h"

namespace fs = std::filesystem;

namespace rslicer::train {

void export_release(const fs::path& checkpoint_dir, const fs::path& out_dir, const std::optional<fs::path>& report) {
  const nlohmann::json manifest = read_checkpoint_manifest(checkpoint_dir);
  const config::Config cfg = config::Config::from_yaml(manifest.at("config").get<std::string>(),
                                                       (checkpoint_dir / "manifest.json").string());
  const config::Config model_cfg = cfg.sub("model");
  model::ReleaseInfo info = model_info_from_config(model_cfg);
  if (!model_cfg.is_null("pretrained_dir")) {
    const fs::path hf = fs::path(model_cfg.get_string("pretrained_dir")) / "config.json";
    if (fs::exists(hf)) info.backbone = model::Qwen3Config::from_json_file(hf);
  }
  model::RuntimeSlicer rs(info.backbone, info.fusion, info.mrl_dim);
  std::map<std::string, torch::Tensor> weights = checkpoint_parameters(checkpoint_dir);
  std::vector<std::string> missing;
  {
    torch::NoGradGuard no_grad;
    for (auto& item : rs->named_parameters()) {
      auto it = weights.find(item.key());
      if (it == weights.end() || it->second.sizes() != item.value().sizes()) {
        missing.push_back(item.key());
        continue;
      }
      item.value().copy_(it->second);
    }
  }
  if (!missing.empty())
    throw Error("checkpoint lacks " + std::to_string(missing.size()) + " model parameter(s), first " + missing[0],
                checkpoint_dir.string(), "a checkpoint written by rslicer pretrain for this model config");

  nlohmann::json summary = {{"checkpoint", fs::absolute(checkpoint_dir).string()},
                            {"step", manifest.at("step")},
                            {"world_size", manifest.at("world_size")},
                            {"loss_tail", manifest.at("loss_tail")},
                            {"stores", cfg.get_string_list("data.stores")},
                            {"training_config", manifest.at("config")},
                            {"serializer", data::serializer_record(read_loader_serializer(cfg))}};
  std::string evaluation = "No evaluation report was given (`rslicer export ... report=<run>/report.json`).";
  if (report) {
    if (!fs::exists(*report)) throw ConfigError("report not found", report->string(), "a report.json of rslicer evaluate");
    summary["evaluation"] = nlohmann::json::parse(read_text_file(*report));
    evaluation = "Evaluation (report.json):\n\n```json\n" + summary["evaluation"].dump(1) + "\n```";
  }
  const auto& tail = manifest.at("loss_tail");
  const std::string last_loss = tail.empty() ? "n/a" : fmt::format("{:.4f}", tail.back().get<double>());
  info.summary_json = summary.dump();
  info.tokenizer_dir = tokenizer_path_from_config(model_cfg).parent_path();
  info.model_card = model::model_card(
      {model_cfg.get_string("name"), "Exported by `rslicer export` from `" + checkpoint_dir.string() + "`",
       manifest.at("step").get<std::int64_t>(), manifest.at("world_size").get<int>(), cfg.get_int("train.global_batch"),
       cfg.get_string_list("data.stores"), "last " + last_loss, evaluation, manifest.at("config").get<std::string>()},
      info);
  model::write_release(out_dir, rs, info);
  spdlog::info("exported {} (step {}) to {}", checkpoint_dir.string(), manifest.at("step").get<std::int64_t>(),
               out_dir.string());
}

}  // namespace rslicer::train
