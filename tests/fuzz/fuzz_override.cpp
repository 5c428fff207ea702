// The command-line override grammar (key=value, +key, ~key, lists, dicts, sweeps, quoted strings).
#include <string>

#include "config/override.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    rslicer::config::parse_override(text);
  } catch (const rslicer::Error&) {  // rejected with a message: fine
  }
  return 0;
}
