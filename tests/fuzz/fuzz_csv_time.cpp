// The CSV reader (quotes, escapes, newlines in quotes) and the time parsers used by every dataset reader.
#include <vector>

#include "core/error.h"
#include "data/aiops_reader.h"
#include "data/csv.h"
#include "data/time_parse.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  rslicer::data::parse_datetime_ns(text);
  rslicer::data::parse_epoch_ns(text, 's');
  rslicer::data::parse_epoch_ns(text, 'n');
  rslicer::data::parse_epoch_auto_ns(text);
  rslicer::data::is_valid_utf8(text);
  const auto path = rslicer::fuzz::write_input("input.csv", data, size);
  try {
    rslicer::data::CsvReader csv(path);
    std::vector<std::string> fields;
    while (csv.next(fields)) {
    }
  } catch (const rslicer::Error&) {
  }
  return 0;
}
