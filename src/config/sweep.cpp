#include "config/sweep.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <cmath>

#include "config/composer.h"
#include "config/override.h"
#include "core/error.h"

namespace rslicer::config {

std::vector<std::string> range_values(double start, double stop, double step, bool integer) {
  std::vector<std::string> out;
  const double count = std::ceil((stop - start) / step);
  for (long i = 0; i < static_cast<long>(count); ++i) {
    double v = start + static_cast<double>(i) * step;
    if (integer) {
      out.push_back(fmt::format("{}", static_cast<long long>(std::llround(v))));
    } else {
      std::string s = fmt::format("{}", v);
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      out.push_back(s);
    }
  }
  return out;
}

namespace {

std::vector<std::string> sweep_values(const Override& o, const Composer& composer) {
  const OverrideValue& v = *o.value;
  std::vector<std::string> values;
  switch (v.kind) {
    case OverrideValue::Kind::element:
    case OverrideValue::Kind::sweep:
    case OverrideValue::Kind::choice:
      for (const auto& e : v.elements) values.push_back(e.text);
      break;
    case OverrideValue::Kind::range:
      values = range_values(v.range_start, v.range_stop, v.range_step, v.range_is_integer);
      if (values.empty())
        throw ConfigError("range() in '" + o.text + "' is empty", "command line", "start < stop for a positive step");
      break;
    case OverrideValue::Kind::glob: {
      if (!composer.is_group(o.key))
        throw ConfigError("glob() in '" + o.text + "' needs a config group", "command line",
                          "a key that names a folder of " + composer.config_dir().string());
      for (const auto& option : composer.options(o.key)) {
        auto matches = [&](const std::vector<std::string>& patterns) {
          for (const auto& p : patterns)
            if (fnmatch(p.c_str(), option.c_str(), 0) == 0) return true;
          return false;
        };
        if (matches(v.glob_include) && !matches(v.glob_exclude)) values.push_back(option);
      }
      if (values.empty())
        throw ConfigError("glob() in '" + o.text + "' matches no option of group '" + o.key + "'", "command line",
                          "a pattern matching some of its options");
      break;
    }
    case OverrideValue::Kind::interval:
      throw ConfigError("interval() in '" + o.text + "' needs a sampling sweeper", "command line",
                        "a,b,c, choice(), range() or glob() for the basic sweeper");
  }
  return values;
}

}  // namespace

std::vector<std::vector<std::string>> expand_sweeps(const std::vector<std::string>& overrides,
                                                    const Composer& composer) {
  std::vector<std::vector<std::string>> per_override;
  for (const auto& text : overrides) {
    Override o = parse_override(text);
    if (!o.value || !o.value->is_sweep()) {
      per_override.push_back({text});
      continue;
    }
    std::vector<std::string> cut;
    for (const auto& value : sweep_values(o, composer)) cut.push_back(o.prefix() + o.key_with_package() + "=" + value);
    per_override.push_back(cut);
  }
  std::vector<std::vector<std::string>> jobs{{}};
  for (const auto& options : per_override) {
    std::vector<std::vector<std::string>> next;
    for (const auto& job : jobs)
      for (const auto& option : options) {
        auto extended = job;
        extended.push_back(option);
        next.push_back(std::move(extended));
      }
    jobs = std::move(next);
  }
  return jobs;
}

}  // namespace rslicer::config
