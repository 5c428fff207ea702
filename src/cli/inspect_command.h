// `rslicer inspect <store.h5>`: the store's summary, as text or --json; --window N lists one window's events.
#pragma once

#include <string>

namespace rslicer::cli {

struct InspectArgs {
  std::string store;
  bool json = false;
  long window = -1;
};

int run_inspect(const InspectArgs& args);

}  // namespace rslicer::cli
