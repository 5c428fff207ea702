// The safetensors header is untrusted input: bounded size, valid JSON, known dtypes, shapes consistent with byte
// ranges, ranges inside the file and not overlapping. Anything else must be an Error, never a crash or a view
// outside the mapping.
#include "core/error.h"
#include "fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = rslicer::fuzz::write_input("input.safetensors", data, size);
  try {
    rslicer::model::SafetensorsFile file(path);
    for (const auto& [name, view] : file.tensors()) {
      // Touch every byte of every tensor: out-of-range views crash here under ASan.
      volatile std::uint8_t sum = 0;
      const auto* bytes = static_cast<const std::uint8_t*>(view.data);
      for (std::size_t i = 0; i < view.bytes; ++i) sum = static_cast<std::uint8_t>(sum + bytes[i]);
    }
  } catch (const rslicer::Error&) {
  }
  return 0;
}
