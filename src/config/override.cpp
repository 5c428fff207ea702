#include "config/override.h"

#include <cmath>
#include <regex>

#include "config/yaml_value.h"
#include "core/error.h"
#include "core/text.h"

namespace rslicer::config {

std::string Override::prefix() const {
  switch (kind) {
    case Kind::change: return "";
    case Kind::add: return "+";
    case Kind::force_add: return "++";
    case Kind::remove: return "~";
  }
  return "";
}

namespace {

// Recursive-descent parser over one override's value text.
class ValueParser {
 public:
  ValueParser(std::string text, std::string whole) : s_(std::move(text)), whole_(std::move(whole)) {}

  OverrideValue parse_value() {
    OverrideValue v;
    skip_ws();
    if (at_end()) {  // "key=" is the empty string, as in Hydra
      v.elements.push_back({string_node(""), "''"});
      return v;
    }
    std::size_t start = pos_;
    if (auto fn = try_function(v)) {
      skip_ws();
      if (!at_end()) fail("unexpected text after " + *fn + "(...)", "the end of the value");
      return v;
    }
    pos_ = start;
    v.elements.push_back(parse_element());
    skip_ws();
    if (!at_end() && peek() == ',') {
      v.kind = OverrideValue::Kind::sweep;
      while (!at_end() && peek() == ',') {
        ++pos_;
        v.elements.push_back(parse_element());
        skip_ws();
      }
    }
    if (!at_end()) fail("unexpected '" + std::string(1, peek()) + "'", "',' between sweep values or the end");
    return v;
  }

  OverrideElement parse_single() {
    skip_ws();
    OverrideElement e = parse_element();
    skip_ws();
    if (!at_end()) fail("unexpected '" + std::string(1, peek()) + "'", "a single value");
    return e;
  }

 private:
  std::string s_, whole_;
  std::size_t pos_ = 0;

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  [[noreturn]] void fail(const std::string& what, const std::string& expected) const {
    throw ConfigError("cannot parse override '" + whole_ + "': " + what,
                      "value position " + std::to_string(pos_), "expected " + expected);
  }

  // name(args) for the sweep functions; returns the function name when one was parsed.
  std::optional<std::string> try_function(OverrideValue& v) {
    static const std::regex name_re("^(choice|range|glob|interval)\\(");
    std::smatch m;
    std::string rest = s_.substr(pos_);
    if (!std::regex_search(rest, m, name_re)) return std::nullopt;
    std::string name = m[1];
    pos_ += name.size() + 1;
    std::vector<std::pair<std::string, OverrideElement>> args;  // (keyword or "", value)
    skip_ws();
    while (!at_end() && peek() != ')') {
      std::string keyword;
      std::size_t save = pos_;
      std::smatch km;
      std::string tail = s_.substr(pos_);
      static const std::regex kw_re("^([A-Za-z_][A-Za-z0-9_]*)\\s*=");
      if (std::regex_search(tail, km, kw_re)) {
        keyword = km[1];
        pos_ += km[0].length();
      } else {
        pos_ = save;
      }
      args.emplace_back(keyword, parse_element());
      skip_ws();
      if (!at_end() && peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (at_end() || peek() != ')') {
        fail("bad argument list of " + name + "()", "',' or ')'");
      }
    }
    if (at_end()) fail("missing ')' after " + name + "(", "')'");
    ++pos_;
    fill_function(name, args, v);
    return name;
  }

  double number_arg(const std::string& fn, const OverrideElement& e) const {
    auto k = scalar_kind(e.value);
    if (k != ScalarKind::integer && k != ScalarKind::floating)
      fail(fn + "() argument '" + e.text + "' is not a number", "numbers");
    return std::stod(e.value.Scalar());
  }

  void fill_function(const std::string& name, const std::vector<std::pair<std::string, OverrideElement>>& args,
                     OverrideValue& v) const {
    if (name == "choice") {
      if (args.empty()) fail("choice() needs at least one option", "choice(a,b,...)");
      v.kind = OverrideValue::Kind::choice;
      for (auto& [kw, e] : args) v.elements.push_back(e);
    } else if (name == "range") {
      if (args.empty() || args.size() > 3) fail("range() takes 1 to 3 arguments", "range(start,stop[,step])");
      v.kind = OverrideValue::Kind::range;
      std::vector<double> n;
      bool all_int = true;
      for (auto& [kw, e] : args) {
        n.push_back(number_arg(name, e));
        all_int = all_int && scalar_kind(e.value) == ScalarKind::integer;
      }
      if (n.size() == 1) n.insert(n.begin(), 0.0);
      if (n.size() == 2) n.push_back(1.0);
      if (n[2] == 0) fail("range() step is 0", "a non-zero step");
      v.range_start = n[0];
      v.range_stop = n[1];
      v.range_step = n[2];
      v.range_is_integer = all_int;
    } else if (name == "glob") {
      v.kind = OverrideValue::Kind::glob;
      for (auto& arg : args) {
        const auto& kw = arg.first;  // not a structured binding: C++17 lambdas cannot capture those (clang)
        const auto& e = arg.second;
        auto add = [&](std::vector<std::string>& to) {
          if (e.value.IsSequence())
            for (const auto& item : e.value) to.push_back(item.Scalar());
          else
            to.push_back(e.value.Scalar());
        };
        if (kw == "exclude")
          add(v.glob_exclude);
        else if (kw.empty() || kw == "include")
          add(v.glob_include);
        else
          fail("glob() has no argument '" + kw + "'", "include patterns and exclude=...");
      }
      if (v.glob_include.empty()) fail("glob() needs a pattern", "glob(*) or glob([a*,b*],exclude=c)");
    } else {  // interval
      if (args.size() != 2) fail("interval() takes 2 arguments", "interval(low,high)");
      v.kind = OverrideValue::Kind::interval;
      v.interval_low = number_arg(name, args[0].second);
      v.interval_high = number_arg(name, args[1].second);
    }
  }

  OverrideElement parse_element() {
    skip_ws();
    if (at_end()) fail("missing value", "a value");
    std::size_t start = pos_;
    YAML::Node node;
    char c = peek();
    if (c == '[') {
      node = parse_list();
    } else if (c == '{') {
      node = parse_dict();
    } else if (c == '\'' || c == '"') {
      node = string_node(parse_quoted());
    } else {
      std::string text = parse_primitive(false);
      if (text.empty()) fail("missing value", "a value");
      node = plain_node(text);
    }
    std::string text(trim(std::string_view(s_).substr(start, pos_ - start)));
    return {node, text};
  }

  YAML::Node parse_list() {
    ++pos_;  // '['
    YAML::Node list(YAML::NodeType::Sequence);
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return list;
    }
    while (true) {
      list.push_back(parse_element().value);
      skip_ws();
      if (at_end()) fail("missing ']'", "']' to close the list");
      if (peek() == ']') {
        ++pos_;
        return list;
      }
      if (peek() != ',') fail("unexpected '" + std::string(1, peek()) + "' in a list", "',' or ']'");
      ++pos_;
    }
  }

  YAML::Node parse_dict() {
    ++pos_;  // '{'
    YAML::Node dict(YAML::NodeType::Map);
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return dict;
    }
    while (true) {
      skip_ws();
      std::string key = (!at_end() && (peek() == '\'' || peek() == '"')) ? parse_quoted() : parse_primitive(true);
      if (key.empty()) fail("missing dict key", "key: value");
      skip_ws();
      if (at_end() || peek() != ':') fail("missing ':' after dict key '" + key + "'", "key: value");
      ++pos_;
      dict[key] = parse_element().value;
      skip_ws();
      if (at_end()) fail("missing '}'", "'}' to close the dict");
      if (peek() == '}') {
        ++pos_;
        return dict;
      }
      if (peek() != ',') fail("unexpected '" + std::string(1, peek()) + "' in a dict", "',' or '}'");
      ++pos_;
    }
  }

  std::string parse_quoted() {
    char quote = s_[pos_++];
    std::string out;
    while (!at_end() && peek() != quote) {
      if (peek() == '\\' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == quote || s_[pos_ + 1] == '\\')) ++pos_;
      out += s_[pos_++];
    }
    if (at_end()) fail(std::string("unterminated quoted string (missing ") + quote + ")", "a closing quote");
    ++pos_;
    return out;
  }

  // Unquoted text up to a structural character; "${...}" is taken whole; '\' escapes the next character.
  std::string parse_primitive(bool is_dict_key) {
    std::string out;
    while (!at_end()) {
      char c = peek();
      if (c == '\\' && pos_ + 1 < s_.size()) {
        out += s_[pos_ + 1];
        pos_ += 2;
        continue;
      }
      if (c == '$' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '{') {
        out += s_[pos_++];  // '$'
        std::size_t depth = 0;
        do {
          if (s_[pos_] == '{') ++depth;
          if (s_[pos_] == '}') --depth;
          out += s_[pos_++];
        } while (!at_end() && depth > 0);
        if (depth > 0) fail("unterminated interpolation '${'", "a closing '}'");
        continue;
      }
      if (c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '(' || c == ')' || c == '\'' ||
          c == '"' || (is_dict_key && c == ':'))
        break;
      out += c;
      ++pos_;
    }
    return std::string(trim(out));
  }
};

}  // namespace

Override parse_override(const std::string& text) {
  Override o;
  o.text = text;
  std::string rest = text;
  if (starts_with(rest, "++")) {
    o.kind = Override::Kind::force_add;
    rest = rest.substr(2);
  } else if (starts_with(rest, "+")) {
    o.kind = Override::Kind::add;
    rest = rest.substr(1);
  } else if (starts_with(rest, "~")) {
    o.kind = Override::Kind::remove;
    rest = rest.substr(1);
  }
  auto eq = rest.find('=');
  std::string key_part = rest.substr(0, eq);
  static const std::regex key_re("^([A-Za-z_/][A-Za-z0-9_\\-./]*)(@([A-Za-z_][A-Za-z0-9_.\\-]*))?$");
  std::smatch m;
  if (!std::regex_match(key_part, m, key_re))
    throw ConfigError("cannot parse override '" + text + "'", "key '" + key_part + "'",
                      "key=value, +key=value, ++key=value or ~key with a key of letters, digits, '_', '-', '.', '/'");
  o.key = m[1];
  if (!o.key.empty() && o.key[0] == '/') o.key = o.key.substr(1);
  o.package = m[3];
  if (eq == std::string::npos) {
    if (o.kind != Override::Kind::remove)
      throw ConfigError("override '" + text + "' has no '='", "command line",
                        "key=value (or ~key to delete a key)");
    return o;
  }
  o.value = ValueParser(rest.substr(eq + 1), text).parse_value();
  return o;
}

OverrideElement parse_element_value(const std::string& text) { return ValueParser(text, text).parse_single(); }

}  // namespace rslicer::config
