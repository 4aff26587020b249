// Recipes: TRL keys, notices for ignored TRL keys, errors a user can act on (unknown key with a
// hint, wrong type, malformed YAML, bad batch arithmetic), --set, config.json round trip, the
// docs tables generated from the listings; and the learning-rate schedules at hand-worked points.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/train/grpo_trainer.h"
#include "rlvr/train/recipe.h"
#include "rlvr/train/schedule.h"
#include "testlib.h"

using namespace rlvr;

namespace {

// The message of the rlvr::Error thrown by f ("" and a test failure when none is thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no rlvr::Error thrown";
  return "";
}

GrpoRecipe parse(const std::string& yaml, std::vector<std::string>* notices = nullptr) {
  GrpoRecipe r;
  apply_recipe_yaml(yaml, "recipe.yaml", &r, notices);
  return r;
}

// The published GSM8K workload written with TRL's key names (grpo-spec.md section 1).
const char* kTrlRecipe = R"(# Qwen2.5-0.5B GRPO on GSM8K
model_name_or_path: Qwen/Qwen2.5-0.5B
torch_dtype: bfloat16
train_dataset_id_or_path: ../shared/data/gsm8k
learning_rate: 1.84e-4
num_train_epochs: 2
per_device_train_batch_size: 16
gradient_accumulation_steps: 2
lr_scheduler_type: cosine
warmup_ratio: 0.1
use_peft: true
lora_r: 16
lora_alpha: 16
lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
beta: 0.04
epsilon_high: 0.28
loss_type: grpo
scale_rewards: false
num_generations: 8
max_prompt_length: null
max_completion_length: 512
min_p: 0.05
stop_strings: ["\n\nQuestion:", "</s>"]
reward_weights: [0.5, 1.0]
mask_truncated_completions: true
seed: 7
)";

}  // namespace

TEST(Recipe, DefaultsAreTrlGrpoConfig) {
  GrpoRecipe r;
  EXPECT_DOUBLE_EQ(r.learning_rate, 1e-6);
  EXPECT_EQ(r.loss_type, LossType::kDapo);
  EXPECT_EQ(r.scale_rewards, ScaleRewards::kGroup);
  EXPECT_DOUBLE_EQ(r.beta, 0.0);
  EXPECT_DOUBLE_EQ(r.epsilon, 0.2);
  EXPECT_FALSE(r.epsilon_high.has_value());
  EXPECT_EQ(r.num_generations, 8);
  EXPECT_EQ(r.max_completion_length, 256);
  EXPECT_EQ(r.per_device_train_batch_size, 8);
  EXPECT_EQ(r.logging_steps, 10);
  EXPECT_EQ(r.seed, 42);
  EXPECT_EQ(r.lr_scheduler_type, ScheduleType::kLinear);
  EXPECT_EQ(r.stop_strings, std::vector<std::string>{"\n\nQuestion:"});
  EXPECT_EQ(r.reward_funcs, (std::vector<std::string>{"gsm8k_format", "gsm8k_correct"}));
  EXPECT_DOUBLE_EQ(SftRecipe().learning_rate, 2e-5);
}

TEST(Recipe, ParsesTrlKeys) {
  std::vector<std::string> notices;
  GrpoRecipe r = parse(kTrlRecipe, &notices);
  EXPECT_TRUE(notices.empty());
  EXPECT_EQ(r.model_name_or_path, "Qwen/Qwen2.5-0.5B");
  EXPECT_EQ(r.dtype, DType::kBFloat16);  // through the torch_dtype alias
  EXPECT_DOUBLE_EQ(r.learning_rate, 1.84e-4);
  EXPECT_DOUBLE_EQ(r.num_train_epochs, 2);
  EXPECT_EQ(r.per_device_train_batch_size, 16);
  EXPECT_EQ(r.gradient_accumulation_steps, 2);
  EXPECT_EQ(r.lr_scheduler_type, ScheduleType::kCosine);
  EXPECT_DOUBLE_EQ(r.warmup_ratio, 0.1);
  EXPECT_TRUE(r.use_peft);
  EXPECT_DOUBLE_EQ(r.lora_alpha, 16);
  EXPECT_EQ(r.lora_target_modules.size(), 7u);
  EXPECT_EQ(r.lora_target_modules.back(), "down_proj");
  EXPECT_DOUBLE_EQ(r.beta, 0.04);
  EXPECT_DOUBLE_EQ(r.epsilon_high.value(), 0.28);
  EXPECT_EQ(r.loss_type, LossType::kGrpo);
  EXPECT_EQ(r.scale_rewards, ScaleRewards::kNone);  // TRL's boolean false
  EXPECT_FALSE(r.max_prompt_length.has_value());
  EXPECT_EQ(r.max_completion_length, 512);
  EXPECT_DOUBLE_EQ(r.min_p.value(), 0.05);
  EXPECT_EQ(r.stop_strings, (std::vector<std::string>{"\n\nQuestion:", "</s>"}));
  EXPECT_EQ(r.reward_weights, (std::vector<double>{0.5, 1.0}));
  EXPECT_TRUE(r.mask_truncated_completions);
  EXPECT_EQ(r.seed, 7);
  validate_recipe(&r, 1);  // 16 * 2 * 1 = 32 completions = 4 prompts of 8
  EXPECT_EQ(generation_batch_size(r, 1), 32);
}

TEST(Recipe, UnknownKeyNamesFileLineAndClosestKey) {
  std::string msg = error_of([] { parse("beta: 0.1\nlearnig_rate: 1e-5\n"); });
  EXPECT_NE(msg.find("recipe.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'learnig_rate'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'learning_rate'?"), std::string::npos) << msg;
  std::string far = error_of([] { parse("zzz_qqq_xxx: 1\n"); });
  EXPECT_NE(far.find("unknown key 'zzz_qqq_xxx'"), std::string::npos) << far;
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
  // An SFT recipe does not know GRPO keys.
  SftRecipe s;
  std::string sft =
      error_of([&] { apply_recipe_yaml("num_generations: 4\n", "sft.yaml", &s, nullptr); });
  EXPECT_NE(sft.find("sft.yaml:1: unknown key 'num_generations'"), std::string::npos) << sft;
}

TEST(Recipe, IgnoredTrlKeysGiveOneLineNotices) {
  std::vector<std::string> notices;
  GrpoRecipe r = parse(
      "report_to: wandb\nbf16: true\nvllm_gpu_memory_utilization: 0.3\nbeta: 0.1\n"
      "sync_ref_model: false\noptim: adamw_torch\n",
      &notices);
  ASSERT_EQ(notices.size(), 5u);
  EXPECT_NE(notices[0].find("recipe.yaml:1: TRL key 'report_to' ignored"), std::string::npos)
      << notices[0];
  EXPECT_NE(notices[1].find("'bf16'"), std::string::npos) << notices[1];
  EXPECT_NE(notices[1].find("dtype"), std::string::npos) << notices[1];
  EXPECT_NE(notices[2].find("'vllm_gpu_memory_utilization'"), std::string::npos) << notices[2];
  for (const auto& n : notices) EXPECT_EQ(n.find('\n'), std::string::npos) << n;
  EXPECT_DOUBLE_EQ(r.beta, 0.1);
  // A TRL feature rlvr lacks is an error when turned on, not a silent change of training.
  std::string msg = error_of([] { parse("sync_ref_model: true\n"); });
  EXPECT_NE(msg.find("'sync_ref_model'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse("optim: sgd\n"); }).find("AdamW only"), std::string::npos);
  EXPECT_NE(error_of([] { parse("top_entropy_quantile: 0.2\n"); }).find("not supported"),
            std::string::npos);
  parse("top_entropy_quantile: 1\n");  // the default, spelled as an integer, is fine
}

TEST(Recipe, SetOverridesScalarsListsAndText) {
  GrpoRecipe r = parse(kTrlRecipe);
  std::vector<std::string> notices;
  apply_recipe_override("learning_rate=3e-5", &r, &notices);
  apply_recipe_override(" num_generations = 4", &r, &notices);
  apply_recipe_override(R"(stop_strings=["\n\nQ:", "</s>", "###"])", &r, &notices);
  apply_recipe_override("reward_weights=[1, 2]", &r, &notices);
  apply_recipe_override("prompt_template=Q: {question}", &r,
                        &notices);  // not YAML-quoted: taken as text
  apply_recipe_override("max_prompt_length=1024", &r, &notices);
  apply_recipe_override("min_p=null", &r, &notices);
  apply_recipe_override("loss_type=dr_grpo", &r, &notices);
  apply_recipe_override("report_to=none", &r, &notices);
  EXPECT_DOUBLE_EQ(r.learning_rate, 3e-5);
  EXPECT_EQ(r.num_generations, 4);
  EXPECT_EQ(r.stop_strings, (std::vector<std::string>{"\n\nQ:", "</s>", "###"}));
  EXPECT_EQ(r.reward_weights, (std::vector<double>{1, 2}));
  EXPECT_EQ(r.prompt_template, "Q: {question}");
  EXPECT_EQ(r.max_prompt_length.value(), 1024);
  EXPECT_FALSE(r.min_p.has_value());
  EXPECT_EQ(r.loss_type, LossType::kDrGrpo);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("--set report_to"), std::string::npos) << notices[0];
  std::string unknown = error_of([&] { apply_recipe_override("num_generation=4", &r, nullptr); });
  EXPECT_NE(unknown.find("did you mean 'num_generations'?"), std::string::npos) << unknown;
  EXPECT_NE(error_of([&] {
              apply_recipe_override("stop_strings=[a,", &r, nullptr);
            }).find("malformed value"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { apply_recipe_override("learning_rate", &r, nullptr); }).find("key=value"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              apply_recipe_override("beta=high", &r, nullptr);
            }).find("--set beta: key 'beta' expects number"),
            std::string::npos);
}

TEST(Recipe, WrongTypesNameKeyAndExpectedType) {
  std::string m1 = error_of([] { parse("beta: 0\nlearning_rate: fast\n"); });
  EXPECT_NE(m1.find("recipe.yaml:2: key 'learning_rate' expects number, got 'fast'"),
            std::string::npos)
      << m1;
  std::string m2 = error_of([] { parse("num_generations: 2.5\n"); });
  EXPECT_NE(m2.find("key 'num_generations' expects integer, got '2.5'"), std::string::npos) << m2;
  std::string m3 = error_of([] { parse("use_peft: maybe\n"); });
  EXPECT_NE(m3.find("expects boolean"), std::string::npos) << m3;
  std::string m4 = error_of([] { parse("lora_target_modules: {q_proj: 1}\n"); });
  EXPECT_NE(m4.find("expects list of strings, got a map"), std::string::npos) << m4;
  std::string m5 = error_of([] { parse("loss_type: ppo\n"); });
  EXPECT_NE(m5.find("expects one of grpo|bnpo|dr_grpo|dapo"), std::string::npos) << m5;
  std::string m6 = error_of([] { parse("reward_weights: [1, x]\n"); });
  EXPECT_NE(m6.find("expects list of numbers"), std::string::npos) << m6;
  std::string m7 = error_of([] { parse("dtype: float16\n"); });
  EXPECT_NE(m7.find("one of auto|float32|bfloat16"), std::string::npos) << m7;
  std::string m8 = error_of([] { parse("seed: true\n"); });
  EXPECT_NE(m8.find("expects integer"), std::string::npos) << m8;
}

TEST(Recipe, MalformedYamlIsOneLineWithFileAndLine) {
  std::string msg = error_of([] { parse("beta: 0.1\nlearning_rate: [1e-5, 2e-5\nseed: 1\n"); });
  EXPECT_EQ(msg.rfind("recipe.yaml:", 0), 0u) << msg;
  EXPECT_NE(msg.find("malformed YAML"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  std::string bad_indent = error_of([] { parse("beta: 0.1\n  seed: 1\n"); });
  EXPECT_NE(bad_indent.find("recipe.yaml:2: malformed YAML"), std::string::npos) << bad_indent;
  std::string not_map = error_of([] { parse("- beta\n- seed\n"); });
  EXPECT_NE(not_map.find("flat map"), std::string::npos) << not_map;
  std::string twice = error_of([] { parse("dtype: float32\ntorch_dtype: bfloat16\n"); });
  EXPECT_NE(twice.find("recipe.yaml:2: key 'torch_dtype' sets 'dtype', which is already set"),
            std::string::npos)
      << twice;
  EXPECT_NO_THROW(parse(""));  // an empty recipe keeps the defaults
}

TEST(Recipe, JsonRoundTrip) {
  GrpoRecipe r = parse(kTrlRecipe);
  apply_recipe_override(R"(prompt_template="Say \"hi\":\t{question}\n")", &r, nullptr);
  nlohmann::json j = recipe_to_json(r);
  EXPECT_EQ(j.at("loss_type"), "grpo");
  EXPECT_EQ(j.at("dtype"), "bfloat16");
  EXPECT_TRUE(j.at("max_prompt_length").is_null());
  EXPECT_EQ(j.at("lora_target_modules").size(), 7u);
  EXPECT_EQ(j.size(), recipe_keys(GrpoRecipe()).size());
  // config.json is valid YAML: reading it back gives the same recipe.
  GrpoRecipe back;
  apply_recipe_yaml(j.dump(2), "config.json", &back, nullptr);
  EXPECT_EQ(recipe_to_json(back), j);
  EXPECT_EQ(back.prompt_template, "Say \"hi\":\t{question}\n");
  EXPECT_EQ(back.stop_strings, r.stop_strings);
  // And through a file, as `rlvr train <run>/config.json` would.
  std::string dir = test::scratch_dir("recipe_round_trip");
  write_json_file(join_path(dir, "config.json"), j);
  std::vector<std::string> notices;
  GrpoRecipe loaded = load_grpo_recipe(join_path(dir, "config.json"), {"seed=9"}, 1, &notices);
  EXPECT_EQ(loaded.seed, 9);
  EXPECT_EQ(loaded.loss_type, LossType::kGrpo);
  EXPECT_NE(error_of([&] {
              load_grpo_recipe(join_path(dir, "missing.yaml"), {}, 1, nullptr);
            }).find("missing.yaml"),
            std::string::npos);
}

TEST(Recipe, GenerationBatchMustDivideByNumGenerations) {
  GrpoRecipe r = parse("model_name_or_path: m\ntrain_dataset_id_or_path: d\nnum_generations: 3\n");
  std::string msg = error_of([&] { validate_recipe(&r, 1); });
  EXPECT_NE(msg.find("= 8 completions must be divisible by num_generations (3)"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("valid num_generations: 2, 4, 8"), std::string::npos) << msg;
  // With several processes each one generates whole groups (docs/distributed.md): 8 * 1 * 3 = 24
  // divides by 3, but a process's 8 completions do not.
  GrpoRecipe three = r;
  msg = error_of([&] { validate_recipe(&three, 3); });
  EXPECT_NE(msg.find("each of the 3 processes generates per_device_train_batch_size (8) * "
                     "gradient_accumulation_steps (1) = 8 completions, which must be whole groups of "
                     "num_generations (3)"), std::string::npos) << msg;
  GrpoRecipe ok = parse("model_name_or_path: m\ntrain_dataset_id_or_path: d\nnum_generations: 4\n");
  validate_recipe(&ok, 3);  // 8 per process = 2 groups of 4
  EXPECT_EQ(generation_batch_size(ok, 3), 24);
}

TEST(Recipe, ValidationResolvesAndRejects) {
  const std::string base = "model_name_or_path: m\ntrain_dataset_id_or_path: d\n";
  GrpoRecipe r = parse(base + "epsilon: 0.3\n");
  validate_recipe(&r, 1);
  EXPECT_DOUBLE_EQ(r.epsilon_high.value(), 0.3);  // defaults to epsilon
  auto invalid = [&](const std::string& extra) {
    GrpoRecipe x = parse(base + extra);
    return error_of([&] { validate_recipe(&x, 1); });
  };
  EXPECT_NE(invalid("reward_weights: [1, 2, 3]\n")
                .find("reward_weights has 3 entries but reward_funcs has 2"),
            std::string::npos);
  EXPECT_NE(invalid("load_in_4bit: true\n").find("use_peft"), std::string::npos);
  EXPECT_NE(invalid("num_generations: 1\n").find("num_generations must be >= 2"),
            std::string::npos);
  EXPECT_NE(invalid("top_p: 0\n").find("top_p"), std::string::npos);
  EXPECT_NE(invalid("temperature: 0\n").find("temperature"), std::string::npos);
  GrpoRecipe no_model;
  EXPECT_NE(error_of([&] { validate_recipe(&no_model, 1); }).find("model_name_or_path is required"),
            std::string::npos);
}

TEST(Recipe, SftSharesConventions) {
  std::vector<std::string> notices;
  SftRecipe s =
      load_sft_recipe("",
                      {"model_name_or_path=m", "train_dataset_id_or_path=d", "max_length=2048",
                       "lr_scheduler_type=constant_with_warmup", "report_to=none"},
                      1, &notices);
  EXPECT_EQ(s.max_seq_length, 2048);  // TRL's newer name is an alias
  EXPECT_EQ(s.lr_scheduler_type, ScheduleType::kConstantWithWarmup);
  EXPECT_EQ(notices.size(), 1u);
  EXPECT_EQ(recipe_to_json(s).at("max_seq_length"), 2048);
  EXPECT_FALSE(recipe_to_json(s).contains("num_generations"));
}

TEST(Recipe, StartupTableListsEveryKey) {
  GrpoRecipe r = parse(kTrlRecipe);
  auto rows = recipe_table(r);
  EXPECT_EQ(rows.size(), recipe_keys(r).size());
  std::istringstream text(format_recipe_table(rows));
  std::string line;
  size_t bar = std::string::npos, lines = 0;
  bool saw_lr = false, saw_stop = false;
  while (std::getline(text, line)) {
    ++lines;
    size_t b = line.find(" | ");
    if (bar == std::string::npos) bar = b;
    EXPECT_EQ(b, bar) << "column not aligned: " << line;  // one aligned column
    saw_lr |= line.rfind("learning_rate ", 0) == 0 && line.substr(b) == " | 0.000184";
    saw_stop |=
        line.rfind("stop_strings ", 0) == 0 && line.substr(b) == R"( | ["\n\nQuestion:","</s>"])";
  }
  EXPECT_EQ(lines, rows.size() + 1);  // header + one row per key
  EXPECT_TRUE(saw_lr);
  EXPECT_TRUE(saw_stop);
}

// docs/recipe.md must document every key (and alias) with its default.
TEST(Recipe, DocsListEveryKeyWithItsDefault) {
  std::string src = __FILE__;
  std::string docs = read_text_file(src.substr(0, src.rfind("/tests/")) + "/docs/recipe.md");
  auto check = [&](const std::vector<RecipeKeyInfo>& keys) {
    for (const auto& k : keys) {
      const std::string head = "| `" + k.key + "` |";
      size_t at = docs.find(head);
      ASSERT_NE(at, std::string::npos) << "docs/recipe.md has no row for " << k.key;
      std::string line = docs.substr(at, docs.find('\n', at) - at);
      EXPECT_NE(line.find("`" + k.default_value + "`"), std::string::npos)
          << k.key << ": default " << k.default_value << " missing from: " << line;
      for (const auto& a : k.aliases) EXPECT_NE(docs.find("`" + a + "`"), std::string::npos) << a;
    }
  };
  check(recipe_keys(GrpoRecipe()));
  check(recipe_keys(SftRecipe()));
}

// docs/recipe.md's key tables are generated from the listings: regenerating them changes nothing.
TEST(Recipe, DocsKeyTablesAreTheListings) {
  const std::string path = std::string(RLVR_SOURCE_DIR) + "/docs/recipe.md";
  const std::string docs = read_text_file(path);
  EXPECT_TRUE(update_recipe_keys_markdown(docs, path) == docs)
      << "docs/recipe.md's key tables differ from the recipe listings in src/rlvr/train/recipe.cpp; "
         "run: build/rlvr recipe-keys --update docs/recipe.md";
}

// Every key is documented in its listing, under a section, and appears in the generated tables.
TEST(Recipe, EveryKeyHasItsDocInTheTables) {
  const std::string md = recipe_keys_markdown();
  for (const auto& keys : {recipe_keys(GrpoRecipe()), recipe_keys(SftRecipe())})
    for (const auto& k : keys) {
      EXPECT_FALSE(k.doc.empty()) << k.key;
      EXPECT_FALSE(k.section.empty()) << k.key;
      EXPECT_NE(md.find("| `" + k.key + "` | "), std::string::npos) << k.key;
      EXPECT_NE(md.find(k.doc), std::string::npos) << k.key;
    }
  // Sections one command does not read say so; ignored TRL keys are listed with their reason.
  EXPECT_NE(md.find("### Prompts (`rlvr train` only)"), std::string::npos);
  EXPECT_NE(md.find("### Sequences (`rlvr sft` only)"), std::string::npos);
  EXPECT_NE(md.find("| `learning_rate` | number | `1e-06` (sft: `2e-05`) |"), std::string::npos);
  EXPECT_NE(md.find("| `report_to` | any | metrics go to &lt;output_dir>/metrics.jsonl |"),
            std::string::npos);
  EXPECT_NE(md.find("| `optim` | `adamw_torch`, `adamw_torch_fused`, `adamw_hf` |"), std::string::npos);
}

// `rlvr recipe-keys` prints the tables; --update rewrites them between the markers only.
TEST(Recipe, RecipeKeysCommandPrintsAndUpdates) {
  auto printed = test::run_cmd(test::rlvr_bin() + " recipe-keys");
  ASSERT_EQ(printed.status, 0) << printed.err;
  EXPECT_EQ(printed.out, recipe_keys_markdown());
  const std::string file = test::scratch_dir("recipe_keys") + "/recipe.md";
  write_text_file(file, "# head\n<!-- BEGIN recipe keys: stale -->\nold\n<!-- END recipe keys -->\ntail\n");
  auto updated = test::run_cmd(test::rlvr_bin() + " recipe-keys --update " + file);
  ASSERT_EQ(updated.status, 0) << updated.err;
  EXPECT_EQ(read_text_file(file), "# head\n" + recipe_keys_markdown() + "tail\n");
  const std::string err = error_of([] { update_recipe_keys_markdown("no markers\n", "x.md"); });
  EXPECT_NE(err.find("x.md: no recipe key tables to update"), std::string::npos) << err;
}

// The data keys as the trainers read them: a dataset folder gives its train split, a test dataset
// must resolve, and format errors name the recipe key (not a command-line flag).
TEST(Recipe, DataKeysReadFoldersAndHintAtRecipeKeys) {
  GrpoRecipe r;
  r.train_dataset_id_or_path = test::shared_data() + "/gsm8k";
  r.test_dataset_id_or_path = test::shared_data() + "/gsm8k";
  const DataOptions d = data_options(r, "train");
  EXPECT_EQ(load_problems(r.train_dataset_id_or_path, d).size(), 7473u);
  EXPECT_NO_THROW(check_test_dataset(r));
  r.test_dataset_id_or_path = "/nonexistent/test.jsonl";
  EXPECT_NE(error_of([&] { check_test_dataset(r); })
                .find("recipe: test_dataset_id_or_path: /nonexistent/test.jsonl: no such file"),
            std::string::npos);
  const std::string empty = test::scratch_dir("recipe_data_keys");
  r.test_dataset_id_or_path = empty;
  EXPECT_NE(error_of([&] { check_test_dataset(r); }).find(empty + ": no test split in this folder"),
            std::string::npos);
  const std::string plain = empty + "/plain.jsonl";
  write_text_file(plain, "{\"question\": \"q\", \"answer\": \"5\"}\n");
  const std::string m = error_of([&] { load_problems(plain, d); });
  EXPECT_NE(m.find("with dataset_format: jsonl"), std::string::npos) << m;
}

// The fenced blocks of one language in a Markdown text, in order.
std::vector<std::string> fenced_blocks(const std::string& md, const std::string& lang) {
  std::vector<std::string> out;
  const std::regex block("```" + lang + "\n([\\s\\S]*?)```");
  for (std::sregex_iterator it(md.begin(), md.end(), block), end; it != end; ++it) out.push_back((*it)[1]);
  return out;
}

// docs/rewards.md's recipe examples, as written there, parse and build their rewards the way
// `rlvr train` does (make_rewards), with the page's judge.py in the working folder; each reward
// scores a right answer as documented, without errors.
TEST(Recipe, RewardsDocExamplesRun) {
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  const std::string md = read_text_file(std::string(RLVR_SOURCE_DIR) + "/docs/rewards.md");
  const auto yaml = fenced_blocks(md, "yaml"), python = fenced_blocks(md, "python");
  ASSERT_EQ(yaml.size(), 2u);
  ASSERT_EQ(python.size(), 1u);
  const std::string dir = test::scratch_dir("rewards_doc");
  write_text_file(dir + "/judge.py", python[0]);
  const std::map<std::string, double> expected = {
      {"gsm8k_format", 0.5}, {"gsm8k_correct", 1.0}, {"judge", 1.0}, {"any_digit", 1.0}};
  const RewardSample right{"Question: ...\nSolution: ", "6*12=72.\n#### The final answer is 72", "72"};
  for (const auto& block : yaml) {
    GrpoRecipe r;
    std::vector<std::string> notices;
    apply_recipe_yaml(block, "docs/rewards.md", &r, &notices);
    char cwd[4096];
    ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
    ASSERT_EQ(::chdir(dir.c_str()), 0);  // judge.py is relative to the run's working folder
    std::vector<std::unique_ptr<RewardFunction>> funcs;
    std::string error;
    try {
      funcs = make_rewards(r);
    } catch (const Error& e) {
      error = e.what();
    }
    ASSERT_EQ(::chdir(cwd), 0);
    ASSERT_EQ(error, "") << block;
    const RewardResult res = score_all(funcs, {}, {right});
    for (size_t k = 0; k < funcs.size(); ++k) {
      EXPECT_EQ(res.per_func[k][0], expected.at(funcs[k]->name())) << funcs[k]->name() << " in\n" << block;
      EXPECT_EQ(funcs[k]->errors(), 0) << funcs[k]->name();
    }
  }
}

// ---------------------------------------------------------------- schedules

TEST(Schedule, LinearWithWarmup) {
  // total 100, warmup 10: warmup step/10; then (100 - step) / 90.
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 10, ScheduleType::kLinear, 2.0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(5, 100, 10, ScheduleType::kLinear, 2.0), 1.0);   // 2 * 5/10
  EXPECT_DOUBLE_EQ(lr_at(10, 100, 10, ScheduleType::kLinear, 2.0), 2.0);  // 2 * 90/90
  EXPECT_DOUBLE_EQ(lr_at(55, 100, 10, ScheduleType::kLinear, 2.0), 1.0);  // 2 * 45/90
  EXPECT_DOUBLE_EQ(lr_at(100, 100, 10, ScheduleType::kLinear, 2.0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(0, 4, 0, ScheduleType::kLinear, 1.0), 1.0);   // no warmup: 4/4
  EXPECT_DOUBLE_EQ(lr_at(3, 4, 0, ScheduleType::kLinear, 1.0), 0.25);  // 1/4
}

TEST(Schedule, CosineWithWarmup) {
  // progress = (step - 10) / 90; lr = 0.5 * (1 + cos(pi * progress)).
  EXPECT_DOUBLE_EQ(lr_at(5, 100, 10, ScheduleType::kCosine, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(10, 100, 10, ScheduleType::kCosine, 1.0), 1.0);
  EXPECT_NEAR(lr_at(40, 100, 10, ScheduleType::kCosine, 1.0), 0.75,
              1e-12);  // progress 1/3: 0.5 * (1 + 0.5)
  EXPECT_NEAR(lr_at(55, 100, 10, ScheduleType::kCosine, 1.0), 0.5, 1e-12);  // progress 1/2: cos = 0
  EXPECT_NEAR(lr_at(100, 100, 10, ScheduleType::kCosine, 1.0), 0.0, 1e-12);
}

TEST(Schedule, ConstantAndConstantWithWarmup) {
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 10, ScheduleType::kConstant, 3.0),
                   3.0);  // constant ignores warmup (HF)
  EXPECT_DOUBLE_EQ(lr_at(2, 100, 10, ScheduleType::kConstantWithWarmup, 3.0), 0.6);  // 3 * 2/10
  EXPECT_DOUBLE_EQ(lr_at(50, 100, 10, ScheduleType::kConstantWithWarmup, 3.0), 3.0);
}

TEST(Schedule, WarmupStepsFromRatio) {
  EXPECT_EQ(resolve_warmup_steps(0, 0.1, 374), 38);  // ceil(37.4)
  EXPECT_EQ(resolve_warmup_steps(5, 0.1, 374), 5);   // explicit steps win
  EXPECT_EQ(resolve_warmup_steps(0, 0.0, 374), 0);
}

// prompt_style code: the prompt keys still at their gsm8k defaults take the code style's values, a
// template written in the recipe wins, and exemplars are refused. The shipped code recipes parse
// and validate as written.
TEST(Recipe, CodePromptStyleAndTheShippedCodeRecipes) {
  const std::string model = "model_name_or_path: m\ntrain_dataset_id_or_path: d\n";
  GrpoRecipe r = parse(model + "prompt_style: code\nnum_shots: 0\n");
  validate_recipe(&r, 1);
  const PromptOptions code = prompt_style_options(PromptStyle::kCode);
  EXPECT_EQ(r.prompt_template, code.query_template);
  EXPECT_EQ(r.exemplar_template, "");
  EXPECT_TRUE(r.stop_strings.empty());
  EXPECT_EQ(recipe_to_json(r).at("prompt_style"), "code");
  GrpoRecipe own = parse(model + "prompt_style: code\nnum_shots: 0\nprompt_template: \"Task: {question}\\n\"\nstop_strings: [END]\n");
  validate_recipe(&own, 1);
  EXPECT_EQ(own.prompt_template, "Task: {question}\n");
  EXPECT_EQ(own.stop_strings, std::vector<std::string>{"END"});
  GrpoRecipe shots = parse(model + "prompt_style: code\n");
  EXPECT_NE(error_of([&] { validate_recipe(&shots, 1); }).find("prompt_style code takes no exemplars, but num_shots is 8"),
            std::string::npos);
  GrpoRecipe gsm = parse(model + "num_shots: 2\n");
  validate_recipe(&gsm, 1);
  EXPECT_EQ(gsm.prompt_template, GrpoRecipe().prompt_template);

  const std::string recipes = std::string(RLVR_SOURCE_DIR) + "/recipes/";
  for (const char* name : {"qwen2.5-coder-7b-code.yaml", "code-tasks-smoke.yaml"}) {
    std::vector<std::string> notices;
    const GrpoRecipe c = load_grpo_recipe(recipes + name, {}, 1, &notices);
    EXPECT_TRUE(notices.empty()) << name;
    EXPECT_EQ(c.reward_funcs, std::vector<std::string>{"code"}) << name;
    EXPECT_EQ(c.prompt_style, PromptStyle::kCode) << name;
    EXPECT_EQ(c.prompt_template, code.query_template) << name;
    EXPECT_EQ(c.prompt_field, "prompt") << name;
  }
}
