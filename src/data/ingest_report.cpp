#include "data/ingest_report.h"

#include <fmt/format.h>

#include "core/error.h"

namespace rslicer::data {

void IngestReport::malformed(const std::string& where, const std::string& what, const std::string& expected) {
  if (strict_) throw Error(what, where, expected + " (strict=true stops at the first malformed row)");
  ++malformed_;
  if (examples_.size() < max_examples_) examples_.push_back(where + ": " + what + " (" + expected + ")");
}

void IngestReport::note(const std::string& message) {
  for (const auto& n : notes_)
    if (n == message) return;
  notes_.push_back(message);
}

std::string IngestReport::summary() const {
  std::string s = fmt::format("{} rows, {:.1f} MB, {} malformed, {} missing values (NaN or empty)", rows_,
                              static_cast<double>(bytes_) / 1e6, malformed_, missing_values_);
  for (const auto& e : examples_) s += "\n  malformed: " + e;
  if (malformed_ > examples_.size()) s += fmt::format("\n  ... and {} more", malformed_ - examples_.size());
  for (const auto& n : notes_) s += "\n  note: " + n;
  return s;
}

}  // namespace rslicer::data
