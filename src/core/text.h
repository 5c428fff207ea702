// Small string helpers shared by every module: edit distance for "did you mean", joining, trimming.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rslicer {

std::size_t edit_distance(std::string_view a, std::string_view b);

// Up to `max_results` candidates closest to `name` (edit distance at most about a third of the length,
// or sharing the last path segment), best first.
std::vector<std::string> closest_matches(std::string_view name, const std::vector<std::string>& candidates,
                                         std::size_t max_results = 3);

// "did you mean 'a' or 'b'?" or "" when there is nothing close.
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char separator);

}  // namespace rslicer
