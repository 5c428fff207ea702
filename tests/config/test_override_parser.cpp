// Table-driven tests of the Hydra override grammar: every form, quoting, escapes and errors.
#include <gtest/gtest.h>

#include "config/override.h"
#include "config/yaml_value.h"
#include "core/error.h"

using namespace rslicer;
using namespace rslicer::config;

namespace {

struct ElementCase {
  const char* text;
  Override::Kind kind;
  const char* key;
  ScalarKind value_kind;
  const char* value;  // the scalar's text
};

class OverrideElements : public ::testing::TestWithParam<ElementCase> {};

TEST_P(OverrideElements, ParsesKeyKindAndTypedValue) {
  const auto& c = GetParam();
  Override o = parse_override(c.text);
  EXPECT_EQ(o.kind, c.kind) << c.text;
  EXPECT_EQ(o.key, c.key) << c.text;
  ASSERT_TRUE(o.value.has_value()) << c.text;
  ASSERT_FALSE(o.value->is_sweep()) << c.text;
  const YAML::Node& v = o.value->elements.at(0).value;
  EXPECT_EQ(scalar_kind(v), c.value_kind) << c.text;
  if (c.value_kind != ScalarKind::null) {
    EXPECT_EQ(v.Scalar(), c.value) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, OverrideElements,
    ::testing::Values(
        ElementCase{"a.b=1", Override::Kind::change, "a.b", ScalarKind::integer, "1"},
        ElementCase{"a=-12", Override::Kind::change, "a", ScalarKind::integer, "-12"},
        ElementCase{"a=1.5", Override::Kind::change, "a", ScalarKind::floating, "1.5"},
        ElementCase{"a=1e-3", Override::Kind::change, "a", ScalarKind::floating, "1e-3"},
        ElementCase{"a=true", Override::Kind::change, "a", ScalarKind::boolean, "true"},
        ElementCase{"a=False", Override::Kind::change, "a", ScalarKind::boolean, "False"},
        ElementCase{"a=null", Override::Kind::change, "a", ScalarKind::null, ""},
        ElementCase{"a=hello", Override::Kind::change, "a", ScalarKind::string, "hello"},
        ElementCase{"a='1'", Override::Kind::change, "a", ScalarKind::string, "1"},
        ElementCase{"a=\"true\"", Override::Kind::change, "a", ScalarKind::string, "true"},
        ElementCase{"a='x,y'", Override::Kind::change, "a", ScalarKind::string, "x,y"},
        ElementCase{"a=\"it\\\"s\"", Override::Kind::change, "a", ScalarKind::string, "it\"s"},
        ElementCase{"a='with space'", Override::Kind::change, "a", ScalarKind::string, "with space"},
        ElementCase{"a=x\\,y", Override::Kind::change, "a", ScalarKind::string, "x,y"},
        ElementCase{"a=  padded  ", Override::Kind::change, "a", ScalarKind::string, "padded"},
        ElementCase{"a=", Override::Kind::change, "a", ScalarKind::string, ""},
        ElementCase{"a=${b.c}", Override::Kind::change, "a", ScalarKind::string, "${b.c}"},
        ElementCase{"a=${oc.env:X,1}", Override::Kind::change, "a", ScalarKind::string, "${oc.env:X,1}"},
        ElementCase{"a=run_${now:%H-%M}", Override::Kind::change, "a", ScalarKind::string, "run_${now:%H-%M}"},
        ElementCase{"+a.new=2", Override::Kind::add, "a.new", ScalarKind::integer, "2"},
        ElementCase{"++a.b=x", Override::Kind::force_add, "a.b", ScalarKind::string, "x"},
        ElementCase{"~a.b=3", Override::Kind::remove, "a.b", ScalarKind::integer, "3"},
        ElementCase{"db/engine=myisam", Override::Kind::change, "db/engine", ScalarKind::string, "myisam"},
        ElementCase{"/db=mysql", Override::Kind::change, "db", ScalarKind::string, "mysql"}),
    [](const ::testing::TestParamInfo<ElementCase>& info) { return "case" + std::to_string(info.index); });

TEST(OverrideGrammar, DeleteWithoutValue) {
  Override o = parse_override("~train.lr");
  EXPECT_EQ(o.kind, Override::Kind::remove);
  EXPECT_EQ(o.key, "train.lr");
  EXPECT_FALSE(o.value.has_value());
}

TEST(OverrideGrammar, PackageAfterAt) {
  Override o = parse_override("trainer@train.trainer=gpu");
  EXPECT_EQ(o.key, "trainer");
  EXPECT_EQ(o.package, "train.trainer");
  EXPECT_EQ(o.key_with_package(), "trainer@train.trainer");
}

TEST(OverrideGrammar, ListsAndDicts) {
  Override list = parse_override("a=[1, 'two', [3], {k: v}]");
  const YAML::Node& l = list.value->elements[0].value;
  ASSERT_TRUE(l.IsSequence());
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(scalar_kind(l[0]), ScalarKind::integer);
  EXPECT_EQ(scalar_kind(l[1]), ScalarKind::string);
  EXPECT_TRUE(l[2].IsSequence());
  EXPECT_EQ(l[3]["k"].Scalar(), "v");

  Override dict = parse_override("a={x:1, y: [a, b], 'z': 'q'}");
  const YAML::Node& d = dict.value->elements[0].value;
  ASSERT_TRUE(d.IsMap());
  EXPECT_EQ(d["x"].Scalar(), "1");
  EXPECT_EQ(scalar_kind(d["x"]), ScalarKind::integer);
  EXPECT_EQ(d["y"].size(), 2u);
  EXPECT_EQ(d["z"].Scalar(), "q");

  EXPECT_EQ(parse_override("a=[]").value->elements[0].value.size(), 0u);
  EXPECT_TRUE(parse_override("a={}").value->elements[0].value.IsMap());
}

TEST(OverrideGrammar, Sweeps) {
  Override s = parse_override("a=1,2,3");
  EXPECT_EQ(s.value->kind, OverrideValue::Kind::sweep);
  ASSERT_EQ(s.value->elements.size(), 3u);
  EXPECT_EQ(s.value->elements[2].text, "3");

  Override lists = parse_override("a=[1,2],[3]");
  EXPECT_EQ(lists.value->kind, OverrideValue::Kind::sweep);
  EXPECT_EQ(lists.value->elements[0].text, "[1,2]");

  Override c = parse_override("db=choice(mysql, postgresql)");
  EXPECT_EQ(c.value->kind, OverrideValue::Kind::choice);
  EXPECT_EQ(c.value->elements[1].text, "postgresql");

  Override r = parse_override("x=range(1,10,2)");
  EXPECT_EQ(r.value->kind, OverrideValue::Kind::range);
  EXPECT_EQ(r.value->range_start, 1);
  EXPECT_EQ(r.value->range_stop, 10);
  EXPECT_EQ(r.value->range_step, 2);
  EXPECT_TRUE(r.value->range_is_integer);
  EXPECT_FALSE(parse_override("x=range(0,1,0.25)").value->range_is_integer);
  Override r1 = parse_override("x=range(3)");
  EXPECT_EQ(r1.value->range_start, 0);
  EXPECT_EQ(r1.value->range_stop, 3);

  Override g = parse_override("db=glob(*,exclude=post*)");
  EXPECT_EQ(g.value->kind, OverrideValue::Kind::glob);
  EXPECT_EQ(g.value->glob_include, std::vector<std::string>{"*"});
  EXPECT_EQ(g.value->glob_exclude, std::vector<std::string>{"post*"});

  Override i = parse_override("lr=interval(0.1, 1)");
  EXPECT_EQ(i.value->kind, OverrideValue::Kind::interval);
  EXPECT_DOUBLE_EQ(i.value->interval_high, 1.0);
}

TEST(OverrideGrammar, ErrorsNameTheOverrideAndWhatWasExpected) {
  struct Bad {
    const char* text;
    const char* expected_fragment;
  };
  for (const Bad& b : {Bad{"a=[1,2", "']'"}, Bad{"a={k: 1", "'}'"}, Bad{"a={k 1}", "key: value"},
                       Bad{"=1", "key=value"}, Bad{"a b=1", "key=value"}, Bad{"novalue", "key=value"},
                       Bad{"a='open", "closing quote"}, Bad{"a=range(1,x)", "numbers"},
                       Bad{"a=range(1,2,0)", "non-zero step"}, Bad{"a=choice()", "choice(a,b"},
                       Bad{"a=${b", "closing '}'"}, Bad{"a=1]", "end"}, Bad{"a=glob(x,bogus=1)", "exclude"}}) {
    try {
      parse_override(b.text);
      ADD_FAILURE() << "no error for " << b.text;
    } catch (const ConfigError& e) {
      std::string line = e.one_line();
      EXPECT_NE(line.find(b.expected_fragment), std::string::npos) << b.text << " -> " << line;
      EXPECT_EQ(line.rfind("error: ", 0), 0u) << line;
      EXPECT_EQ(e.exit_code(), ExitCode::usage);
    }
  }
}

}  // namespace
