// Composition order, config groups, packages, override precedence and the errors, on tests/config/fixtures.
#include <gtest/gtest.h>

#include "config/composer.h"
#include "config/config.h"
#include "config/yaml_value.h"
#include "core/atomic_file.h"
#include "core/error.h"

using namespace rslicer;
using namespace rslicer::config;

namespace {

const std::string kFixtures = std::string(RSLICER_TEST_DIR) + "/config/fixtures";

YAML::Node compose(const std::string& name, std::vector<std::string> overrides = {}) {
  Composer composer(kFixtures);
  return composer.compose({name, std::move(overrides)});
}

Config job(const std::string& name, std::vector<std::string> overrides = {}) {
  return Config(job_config(compose(name, std::move(overrides))));
}

std::string compose_error(const std::string& name, std::vector<std::string> overrides) {
  try {
    compose(name, std::move(overrides));
  } catch (const ConfigError& e) {
    return e.one_line();
  }
  return "no error";
}

TEST(Compose, GoldenDefaultConfig) {
  std::string golden = read_text_file(std::string(RSLICER_TEST_DIR) + "/config/golden/app.yaml");
  EXPECT_EQ(to_yaml(job_config(compose("app"))), golden);
}

TEST(Compose, SelfLastMeansThePrimaryWins) {
  Config c = job("app");
  EXPECT_EQ(c.get_int("db.timeout"), 5);  // primary (5) over db/mysql (10)
  EXPECT_EQ(c.get_string("db.user"), "root");
}

TEST(Compose, SelfFirstMeansGroupsWin) {
  Config c = job("self_first");
  EXPECT_EQ(c.get_int("db.timeout"), 10);
  EXPECT_EQ(c.get_string("db.user"), "root");
}

TEST(Compose, GroupOptionFromTheCommandLine) {
  YAML::Node root = compose("app", {"db=postgresql"});
  Config c(job_config(root));
  EXPECT_EQ(c.get_string("db.driver"), "postgresql");
  EXPECT_FALSE(c.has("db.engine"));  // the nested default came with mysql only
  EXPECT_EQ(find_path(root, "hydra.runtime.choices.db").Scalar(), "postgresql");
}

TEST(Compose, NestedDefaultsAreRelativeToTheirGroup) {
  EXPECT_EQ(job("app").get_string("db.engine.kind"), "innodb");
  EXPECT_EQ(job("app", {"db/engine=myisam"}).get_string("db.engine.kind"), "myisam");
}

TEST(Compose, PackageFromAtSyntax) {
  Config c = job("app", {"trainer@train.trainer=gpu"});
  EXPECT_EQ(c.get_string("train.trainer.device"), "cuda");
  EXPECT_FALSE(c.has("trainer"));
}

TEST(Compose, OptionalGroupMissingIsSkippedAndCanBeChosen) {
  EXPECT_EQ(job("app").get_int("port"), 80);
  // site/cluster.yaml is `# @package _global_`; it comes before _self_, so the primary still wins...
  EXPECT_EQ(job("app", {"site=cluster"}).get_int("port"), 80);
  // ...and the value lands at the root, not under `site`.
  EXPECT_FALSE(job("app", {"site=cluster"}).has("site"));
}

TEST(Compose, AppendedGroupAndExperimentOverrides) {
  Config c = job("app", {"+experiment=fast"});
  EXPECT_EQ(c.get_string("db.driver"), "postgresql");        // override /db: postgresql
  EXPECT_EQ(c.get_string("train.trainer.device"), "cuda");   // override /trainer@train.trainer: gpu
  EXPECT_EQ(c.get_int("train.steps"), 2);                    // appended after _self_: the experiment wins
  EXPECT_EQ(c.get_double("train.lr"), 0.1);
  // The command line wins over an experiment's override entries.
  EXPECT_EQ(job("app", {"+experiment=fast", "db=mysql"}).get_string("db.driver"), "mysql");
}

TEST(Compose, DeleteAGroup) {
  Config c = job("app", {"~server"});
  EXPECT_FALSE(c.has("server"));
  EXPECT_TRUE(c.has("db"));
}

TEST(Compose, ValueOverrides) {
  Config c = job("app", {"train.lr=0.5", "+train.extra=[1,2]", "++train.steps=7", "++train.brand_new=x", "~db.timeout",
                         "train.tags=[z]", "train.trainer={device: x}"});
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 0.5);
  EXPECT_EQ(c.get_int_list("train.extra"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(c.get_int("train.steps"), 7);
  EXPECT_EQ(c.get_string("train.brand_new"), "x");
  EXPECT_FALSE(c.has("db.timeout"));
  EXPECT_EQ(c.get_string_list("train.tags"), std::vector<std::string>{"z"});  // lists are replaced
  EXPECT_EQ(c.get_string("train.trainer.device"), "x");                      // a dict value replaces
  EXPECT_FALSE(c.has("train.trainer.threads"));
}

TEST(Compose, OverridesFeedInterpolations) {
  EXPECT_EQ(job("app", {"name=x", "port=1"}).get_string("train.path"), "run_x_1");
}

TEST(Compose, QuotedValuesStayStrings) {
  Config c = job("app", {"port='80'"});
  EXPECT_THROW(c.get_int("port"), ConfigError);
  EXPECT_EQ(c.get_string("port"), "80");
}

TEST(Compose, ErrorsSayWhatWhereAndExpected) {
  struct Case {
    std::vector<std::string> overrides;
    std::vector<std::string> fragments;
  };
  for (const Case& c : std::vector<Case>{
           {{"train.lrr=1"}, {"unknown config key 'train.lrr'", "did you mean 'train.lr'", "+train.lrr"}},
           {{"+train.lr=1"}, {"already exists", "++train.lr"}},
           {{"~train.nope"}, {"cannot delete missing config key 'train.nope'"}},
           {{"~port=81"}, {"is not '81'"}},
           {{"db=mysqll"}, {"no option 'mysqll' in config group 'db'", "did you mean 'mysql'"}},
           {{"experiment=fast"}, {"no 'experiment' in the defaults list", "+experiment=..."}},
           {{"train.lr=1,2"}, {"is a sweep", "--multirun"}},
           {{"db=mysql,postgresql"}, {"is a sweep"}},
       }) {
    std::string line = compose_error("app", c.overrides);
    for (const auto& f : c.fragments) EXPECT_NE(line.find(f), std::string::npos) << line;
  }
  std::string missing_primary = compose_error("ap", {});
  EXPECT_NE(missing_primary.find("no primary config 'ap'"), std::string::npos) << missing_primary;
  EXPECT_NE(missing_primary.find("did you mean 'app'"), std::string::npos) << missing_primary;
}

TEST(Compose, HydraRuntimeRecord) {
  YAML::Node root = compose("app", {"train.lr=0.2", "db=postgresql"});
  EXPECT_EQ(find_path(root, "hydra.mode").Scalar(), "RUN");
  EXPECT_EQ(find_path(root, "hydra.overrides.task").size(), 2u);
  EXPECT_EQ(find_path(root, "hydra.job.override_dirname").Scalar(), "db=postgresql,train.lr=0.2");
  EXPECT_EQ(find_path(root, "hydra.runtime.output_dir").Scalar(), find_path(root, "hydra.run.dir").Scalar());
  EXPECT_EQ(find_path(root, "hydra.run.dir").Scalar().rfind("outputs/", 0), 0u);

  Composer composer(kFixtures);
  YAML::Node swept = composer.compose({"app", {}, std::chrono::system_clock::now(), true, 3});
  std::string dir = find_path(swept, "hydra.runtime.output_dir").Scalar();
  EXPECT_EQ(dir.rfind("multirun/", 0), 0u);
  EXPECT_EQ(dir.substr(dir.size() - 2), "/3");
}

TEST(Compose, ListsGroupsAndOptions) {
  Composer composer(kFixtures);
  auto groups = composer.groups();
  EXPECT_NE(std::find(groups.begin(), groups.end(), "db/engine"), groups.end());
  EXPECT_EQ(composer.options("db"), (std::vector<std::string>{"mysql", "postgresql"}));
  EXPECT_TRUE(composer.is_group("server"));
  EXPECT_FALSE(composer.is_group("train"));
}

}  // namespace
