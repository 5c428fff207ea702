// `rslicer export`: a checkpoint -> a release (docs/design.md §6): consolidated safetensors with HF key names, config.json,
// the tokenizer files and a model card (training config, data, steps, final losses, evaluation results when a
// report.json is given). `rslicer embed model.release=<out>` loads it.
#pragma once

#include <filesystem>
#include <optional>

namespace rslicer::train {

void export_release(const std::filesystem::path& checkpoint_dir, const std::filesystem::path& out_dir,
                    const std::optional<std::filesystem::path>& report_json = std::nullopt);

}  // namespace rslicer::train
