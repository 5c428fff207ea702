// What a reader met on the way: rows read, malformed rows (the first few with file:line), values treated as
// missing, quirks corrected. `strict` turns the first malformed row into an error.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace rslicer::data {

class IngestReport {
 public:
  explicit IngestReport(bool strict = false, std::size_t max_examples = 5) : strict_(strict), max_examples_(max_examples) {}

  // A row that could not be used. Throws Error in strict mode.
  void malformed(const std::string& where, const std::string& what, const std::string& expected);
  void note(const std::string& message);  // a quirk corrected or a fact worth telling
  void count_row(std::size_t n = 1) { rows_ += n; }
  void count_missing_value(std::size_t n = 1) { missing_values_ += n; }
  void count_bytes(std::size_t n) { bytes_ += n; }

  std::size_t rows() const { return rows_; }
  std::size_t malformed_rows() const { return malformed_; }
  std::size_t missing_values() const { return missing_values_; }
  std::size_t bytes() const { return bytes_; }
  const std::vector<std::string>& examples() const { return examples_; }
  const std::vector<std::string>& notes() const { return notes_; }
  std::string summary() const;

 private:
  bool strict_;
  std::size_t max_examples_;
  std::size_t rows_ = 0, malformed_ = 0, missing_values_ = 0, bytes_ = 0;
  std::vector<std::string> examples_, notes_;
};

}  // namespace rslicer::data
