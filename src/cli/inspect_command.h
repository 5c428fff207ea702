// `rslicer inspect <store.h5>`: the store's summary, as text or --json; --window N lists one window's events.
#pragma once

#include <string>

namespace rslicer::cli {

struct InspectArgs {
  std::string store;
  bool json = false;
  long window = -1;
  long serialize = -1;        // print the model's input texts of this window
  std::string tokenizer;      // empty: the installed Qwen3 tokenizer
  std::size_t max_tokens = 512;
  std::string component;      // with --serialize: one pod's texts (what failure localization embeds)
  bool caller_wait = false;   // with --serialize: trace edges with the caller's wait (serializer.caller_wait)
  bool sample_gaps = false;   // with --serialize: "missing samples" where a series has gaps (serializer.sample_gaps)
  std::size_t system_kpis = 0;  // with --serialize: the system's move on this many KPIs first (serializer.system_kpis)
  std::size_t tuning_windows = 0;  // with --serialize: the store's tuning side (serializer.metric_baseline)
};

int run_inspect(const InspectArgs& args);

}  // namespace rslicer::cli
