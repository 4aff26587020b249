// Data tests: GSM8K/JSONL loading and malformed lines, the validation split, the resumable
// cursor, the published 8-shot prompt byte for byte (grpo-spec.md section 3) against a slow
// reference rendering, synthetic problems, and the `rlvr data` commands.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/cursor.h"
#include "rlvr/data/dataset.h"
#include "rlvr/data/prompt.h"
#include "rlvr/data/synth.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "testlib.h"

namespace rlvr {
namespace {

std::string gsm8k(const std::string& f) { return test::shared_data() + "/gsm8k/" + f; }

const std::vector<Problem>& train() {
  static const std::vector<Problem> t = load_problems(gsm8k("train.jsonl"), {});
  return t;
}
const std::vector<Problem>& testset() {
  static const std::vector<Problem> t = load_problems(gsm8k("test.jsonl"), {});
  return t;
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = test::scratch_dir("data_" + name) + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

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

TEST(Dataset, LoadsGsm8k) {
  ASSERT_EQ(train().size(), 7473u);
  ASSERT_EQ(testset().size(), 1319u);
  EXPECT_EQ(train()[0].answer, "72");
  EXPECT_EQ(train()[0].question.rfind("Natalia sold clips to 48 of her friends", 0), 0u);
  EXPECT_NE(train()[0].solution_raw.find("<<48/2=24>>"), std::string::npos);
  int negatives = 0, commas = 0;
  for (const auto& p : train()) {
    negatives += p.answer[0] == '-';
    commas += p.answer.find(',') != std::string::npos;
  }
  EXPECT_EQ(negatives, 3);  // -7, -47, -12
  EXPECT_EQ(commas, 79);
}

TEST(Dataset, MalformedLinesNameFileAndLine) {
  std::string path = write_file("bad.jsonl",
                                "{\"question\": \"q1\", \"answer\": \"a\\n#### 1\"}\n"
                                "{not json\n"
                                "\n"
                                "{\"question\": \"q2\"}\n"
                                "[1, 2]\n"
                                "{\"question\": \"q3\", \"answer\": \"no marker\"}\n"
                                "{\"question\": \"q4\", \"answer\": \"b\\n#### 4\"}\n");
  DataOptions o;
  o.format = DataFormat::kGsm8k;
  try {
    load_problems(path, o);
    FAIL() << "malformed file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2:"), std::string::npos) << e.what();
  }
  o.skip_malformed = true;
  int64_t skipped = -1;
  auto ps = load_problems(path, o, &skipped);
  EXPECT_EQ(skipped, 4);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[1].answer, "4");
  // Missing field error names the field and line 4 once line 2 is fixed.
  std::string p2 = write_file("bad2.jsonl", "{\"question\": \"q\", \"answer\": \"#### 1\"}\n\n\n{\"question\": \"q2\"}\n");
  try {
    load_problems(p2, {});
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(":4:"), std::string::npos) << m;
    EXPECT_NE(m.find("\"answer\""), std::string::npos) << m;
  }
  EXPECT_THROW(load_problems("/nonexistent/file.jsonl", {}), Error);
}

// The hints in dataset errors name what exists: no skip_malformed (not a recipe key or flag), and
// the format switch as the caller's user spells it (--format, or dataset_format: in a recipe).
TEST(Dataset, ErrorHintsNameWhatExists) {
  std::string path = write_file("nomarker.jsonl", "{\"question\": \"q\", \"answer\": \"5\"}\n");
  DataOptions o;
  o.format = DataFormat::kGsm8k;
  std::string m = error_of([&] { load_problems(path, o); });
  EXPECT_NE(m.find(path + ":1: GSM8K answer has no \"#### <answer>\" line (read answers without one with --format jsonl); fix or remove that line"),
            std::string::npos) << m;
  EXPECT_EQ(m.find("skip_malformed"), std::string::npos) << m;
  o.format_option = "dataset_format:";
  m = error_of([&] { load_problems(path, o); });
  EXPECT_NE(m.find("(read answers without one with dataset_format: jsonl)"), std::string::npos) << m;
  m = error_of([&] { load_problems(write_file("garbage.jsonl", "{not json\n"), {}); });
  EXPECT_NE(m.find("fix or remove that line"), std::string::npos) << m;
  EXPECT_EQ(m.find("skip_malformed"), std::string::npos) << m;
}

// A folder reads one split in the layouts of Hugging Face dataset repositories (and the GSM8K
// folder: train.jsonl, test.jsonl); a folder without that split, or without a split named, is
// one error naming the folder.
TEST(Dataset, FolderSplits) {
  const std::string q1 = "{\"question\": \"q1\", \"answer\": \"a\\n#### 1\"}\n";
  const std::string q2 = "{\"question\": \"q2\", \"answer\": \"a\\n#### 2\"}\n";
  DataOptions o;
  o.split = "train";
  EXPECT_EQ(load_problems(test::shared_data() + "/gsm8k", o).size(), 7473u);
  o.split = "test";
  EXPECT_EQ(load_problems(test::shared_data() + "/gsm8k", o).size(), 1319u);
  const std::string hf = test::scratch_dir("data_hf_folder");
  make_dirs(hf + "/data");
  std::ofstream(hf + "/data/train-00001-of-00002.jsonl") << q2;
  std::ofstream(hf + "/data/train-00000-of-00002.jsonl") << q1;
  std::ofstream(hf + "/data/test-00000-of-00001.jsonl") << q2;
  std::ofstream(hf + "/README.md") << "# card\n";
  o.split = "train";
  auto ps = load_problems(hf, o);
  ASSERT_EQ(ps.size(), 2u);  // shards in name order
  EXPECT_EQ(ps[0].answer, "1");
  EXPECT_EQ(ps[1].answer, "2");
  o.split = "test";
  EXPECT_EQ(load_problems(hf, o).size(), 1u);
  std::ofstream(hf + "/data/test.jsonl") << q1 << q1 << q1;  // a whole-split file wins over shards
  EXPECT_EQ(load_problems(hf, o).size(), 3u);
  o.split = "validation";
  std::string m = error_of([&] { load_problems(hf, o); });
  EXPECT_NE(m.find(hf + ": no validation split in this folder (looked for validation.jsonl, data/validation.jsonl"),
            std::string::npos) << m;
  o.split.clear();
  m = error_of([&] { load_problems(hf, o); });
  EXPECT_NE(m.find(hf + ": is a folder; name one of its JSONL files"), std::string::npos) << m;
  EXPECT_EQ(dataset_split_files(hf + "/data/test.jsonl", "train"),
            std::vector<std::string>{hf + "/data/test.jsonl"});  // a file is itself, whatever the split
}

TEST(Dataset, GenericJsonlFields) {
  std::string path = write_file("gen.jsonl",
                                "{\"prompt\": \"Capital of France?\", \"answer\": \"Paris\"}\n"
                                "{\"prompt\": \"2+2?\", \"answer\": 4, \"sol\": \"2+2=4\"}\n");
  auto ps = load_problems(path, {});
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].question, "Capital of France?");
  EXPECT_EQ(ps[0].answer, "Paris");
  EXPECT_EQ(ps[1].answer, "4");
  DataOptions o;
  o.solution_field = "sol";
  o.question_field = "prompt";
  o.format = DataFormat::kJsonl;
  o.skip_malformed = true;
  int64_t skipped = 0;
  ps = load_problems(path, o, &skipped);
  ASSERT_EQ(ps.size(), 1u);  // the first line has no "sol"
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(ps[0].solution_raw, "2+2=4");
  o.question_field = "question";
  EXPECT_THROW(load_problems(path, o), Error);  // every line lacks "question"
}

TEST(Dataset, ValidationSplit) {
  auto [tr, va] = split_validation(train(), 0.1, 7);
  EXPECT_EQ(va.size(), 747u);
  EXPECT_EQ(tr.size() + va.size(), 7473u);
  std::set<std::string> trq, vaq;
  for (auto& p : tr) trq.insert(p.question + p.solution_raw);
  for (auto& p : va) vaq.insert(p.question + p.solution_raw);
  for (auto& q : vaq) EXPECT_EQ(trq.count(q), 0u);
  auto [tr2, va2] = split_validation(train(), 0.1, 7);
  auto [tr3, va3] = split_validation(train(), 0.1, 8);
  ASSERT_EQ(va2.size(), va.size());
  EXPECT_EQ(va2[0].question, va[0].question);
  EXPECT_EQ(va2.back().question, va.back().question);
  bool differs = false;
  for (size_t i = 0; i < va.size(); ++i) differs = differs || va3[i].question != va[i].question;
  EXPECT_TRUE(differs);
  EXPECT_THROW(split_validation(train(), 1.0, 0), Error);
  EXPECT_EQ(split_validation(train(), 0.0, 0).second.size(), 0u);
}

TEST(Cursor, EpochsArePermutationsAndResumeMatches) {
  DataCursor c(10, 3);
  std::vector<int64_t> all;
  for (int i = 0; i < 5; ++i) {
    auto b = c.next(4);
    all.insert(all.end(), b.begin(), b.end());
  }
  ASSERT_EQ(all.size(), 20u);
  std::set<int64_t> e0(all.begin(), all.begin() + 10), e1(all.begin() + 10, all.end());
  EXPECT_EQ(e0.size(), 10u);
  EXPECT_EQ(e1.size(), 10u);
  EXPECT_NE(std::vector<int64_t>(all.begin(), all.begin() + 10),
            std::vector<int64_t>(all.begin() + 10, all.end()));  // reshuffled per epoch
  EXPECT_EQ(c.epoch(), 1);
  EXPECT_EQ(c.position(), 10);
  // Resume: save after 3 batches, restore, continue == uninterrupted.
  DataCursor a(10, 3), b(10, 3);
  for (int i = 0; i < 3; ++i) a.next(4), b.next(4);
  DataCursor r = DataCursor::from_json(nlohmann::json::parse(a.to_json().dump()), 10);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.next(4), b.next(4)) << i;
  EXPECT_THROW(DataCursor::from_json(a.to_json(), 11), Error);
  EXPECT_THROW(DataCursor::from_json(nlohmann::json{{"epoch", 0}}, 10), Error);
  DataCursor seq(5, 0, false);
  EXPECT_EQ(seq.next(7), (std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1}));
}

// ---- prompts ----

// Slow reference: the published formatter transcribed step by step with std::regex.
std::string reference_exemplar(const Problem& p) {
  std::string reasoning = p.solution_raw.substr(0, p.solution_raw.find("#### "));
  reasoning = std::regex_replace(reasoning, std::regex("^\\s+|\\s+$"), "");
  std::string joined = std::regex_replace(reasoning, std::regex("\n"), ". ");
  joined = std::regex_replace(joined, std::regex("<<[^\n]*?>>"), "");
  std::string ex = "Question: " + p.question + "\nSolution: " + joined + ".\n";
  std::string fixed;
  for (size_t i = 0; i < ex.size(); ++i) {  // str.replace('..', '.'): non-overlapping, left to right
    if (ex.compare(i, 2, "..") == 0) {
      fixed += '.';
      ++i;
    } else {
      fixed += ex[i];
    }
  }
  return fixed + "#### The final answer is " + p.answer + "\n\n";
}

TEST(Prompt, EveryTrainExemplarMatchesTheReference) {
  PromptOptions o;
  for (const auto& p : train())
    ASSERT_EQ(render_template(o.exemplar_template, p, true), reference_exemplar(p)) << p.question;
}

TEST(Prompt, SolutionFormatting) {
  const Problem& p = train()[0];
  EXPECT_EQ(format_solution(p),
            "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in "
            "April and May.");
  Problem q{"Q?", "A.\nB...\n#### 3", "3"};
  EXPECT_EQ(render_template(PromptOptions().exemplar_template, q, true),
            "Question: Q?\nSolution: A. B..\n#### The final answer is 3\n\n");  // "A.. B....".replace
  Problem r{"Q?", "x <<1+1=2>>2 and <<a\n#### 2", "2"};
  EXPECT_EQ(join_solution_lines(r), "x 2 and <<a");
  EXPECT_EQ(reference_completion(p, PromptOptions()),
            "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in "
            "April and May.\n#### The final answer is 72");
}

TEST(Prompt, EightShotGsm8kIsByteExact) {
  PromptBuilder b(train(), PromptOptions{});  // 8 shots, seed 42
  const std::string first_exemplar =
      "Question: Jesse is playing with a pile of building blocks. He first builds a building "
      "with 80 building blocks. Then he builds a farmhouse with 123 building blocks. He adds a "
      "fenced-in area next to the farm made of 57 building blocks. If Jesse has 84 building "
      "blocks left, how many building blocks did he start with?\n"
      "Solution: Jesse built three structures out of building blocks, 80 + 123 + 57 = 260 "
      "building blocks. Jesse started with 260 + 84 leftover building blocks = 344 building "
      "blocks that Jesse had originally.\n"
      "#### The final answer is 344\n\n";
  const std::string suffixes[3] = {
      "Question: Janet\xE2\x80\x99s ducks lay 16 eggs per day. She eats three for breakfast every "
      "morning and bakes muffins for her friends every day with four. She sells the remainder at "
      "the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make "
      "every day at the farmers' market?\nSolution: ",
      "Question: A robe takes 2 bolts of blue fiber and half that much white fiber.  How many "
      "bolts in total does it take?\nSolution: ",
      "Question: Josh decides to try flipping a house.  He buys a house for $80,000 and then puts "
      "in $50,000 in repairs.  This increased the value of the house by 150%.  How much profit "
      "did he make?\nSolution: "};
  std::string prefix0;
  const std::regex block("Question: [^\n]+\nSolution: [^\n]+\\.\n#### The final answer is [^\n]+\n\n");
  for (int i = 0; i < 3; ++i) {
    PromptParts parts = b.build(testset()[i]);
    EXPECT_EQ(parts.suffix, suffixes[i]);
    EXPECT_EQ(parts.full(), parts.prefix + parts.suffix);
    ASSERT_EQ(parts.prefix.compare(0, first_exemplar.size(), first_exemplar), 0) << parts.prefix;
    if (i == 0) prefix0 = parts.prefix;
    EXPECT_EQ(parts.prefix, prefix0) << "the prefix must be shared across the batch";
  }
  // Structure of the rest: exactly 8 exemplars, each the reference rendering of a distinct
  // train problem, none of them the problem asked.
  auto idx = b.exemplars_for(testset()[0]);
  ASSERT_EQ(idx.size(), 8u);
  std::string rebuilt;
  for (int64_t i : idx) rebuilt += reference_exemplar(train()[i]);
  EXPECT_EQ(rebuilt, prefix0);
  EXPECT_EQ(std::set<int64_t>(idx.begin(), idx.end()).size(), 8u);
  auto it = std::sregex_iterator(prefix0.begin(), prefix0.end(), block);
  size_t covered = 0, n = 0;
  for (; it != std::sregex_iterator(); ++it, ++n) covered += it->length();
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(covered, prefix0.size());
}

TEST(Prompt, NeverTheProblemItself) {
  PromptOptions o;
  o.shots = 8;
  PromptBuilder b(train(), o);
  auto shared = b.exemplars_for(testset()[0]);
  const Problem& own = train()[shared[3]];  // a train problem that is a shared exemplar
  auto idx = b.exemplars_for(own);
  ASSERT_EQ(idx.size(), 8u);
  for (int64_t i : idx) EXPECT_NE(train()[i].question, own.question);
  PromptParts parts = b.build(own);
  EXPECT_EQ(parts.prefix.find("Question: " + own.question + "\n"), std::string::npos);
  EXPECT_NE(parts.prefix, b.build(testset()[0]).prefix);
  // per-problem mode: stable per problem, varies across problems, never itself.
  o.per_problem_shots = true;
  PromptBuilder pp(train(), o);
  EXPECT_EQ(pp.build(testset()[1]).prefix, pp.build(testset()[1]).prefix);
  EXPECT_NE(pp.build(testset()[1]).prefix, pp.build(testset()[2]).prefix);
  for (int k = 0; k < 50; ++k)
    for (int64_t i : pp.exemplars_for(train()[k])) EXPECT_NE(train()[i].question, train()[k].question);
  // A pool too small for k is an error, not a short prompt.
  EXPECT_THROW(PromptBuilder(std::vector<Problem>(train().begin(), train().begin() + 3), o), Error);
  std::vector<Problem> tiny(train().begin(), train().begin() + 8);
  o.per_problem_shots = false;
  PromptBuilder tb(tiny, o);
  EXPECT_THROW(tb.build(tiny[0]), Error);  // only 7 others
  o.shots = 0;
  EXPECT_EQ(PromptBuilder({}, o).build(testset()[1]).full(), 
            "Question: A robe takes 2 bolts of blue fiber and half that much white fiber.  How many "
            "bolts in total does it take?\nSolution: ");
}

TEST(Prompt, ReferenceCompletionsEarnFullRewards) {
  // Data and rewards agree: the ideal completion of every train problem scores 1.5, except
  // the 3 negative answers that the spec's format regex (\d+) rejects.
  std::vector<std::unique_ptr<RewardFunction>> fs;
  fs.push_back(make_reward("gsm8k_format"));
  fs.push_back(make_reward("gsm8k_correct"));
  std::vector<RewardSample> batch;
  for (const auto& p : train()) batch.push_back({"", reference_completion(p, {}), p.answer});
  RewardResult r = score_all(fs, {}, batch);
  int full = 0, correct = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    full += r.total[i] == 1.5;
    correct += r.per_func[1][i] == 1.0;
  }
  EXPECT_EQ(correct, 7473);
  EXPECT_EQ(full, 7473 - 3);
}

// ---- synthetic problems ----

TEST(Synth, ShortValidAndDeterministic) {
  SynthOptions o;
  o.min_steps = 1;
  o.max_steps = 3;
  o.ops = "+-*";
  auto a = synth_problems(500, 11, o, Split::kTrain);
  auto b = synth_problems(500, 11, o, Split::kTrain);
  ASSERT_EQ(a.size(), 500u);
  const std::regex ann("(\\d+)([-+*])(\\d+)=<<(\\d+)([-+*])(\\d+)=(\\d+)>>(\\d+)");
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].question, b[i].question);
    EXPECT_LT(a[i].question.size(), 160u) << a[i].question;
    std::string ans;
    ASSERT_TRUE(parse_gsm8k_answer(a[i].solution_raw, &ans));
    EXPECT_EQ(ans, a[i].answer);
    EXPECT_GE(std::stoll(a[i].answer), 0);
    int steps = 0;
    long long last = -1;
    for (auto it = std::sregex_iterator(a[i].solution_raw.begin(), a[i].solution_raw.end(), ann);
         it != std::sregex_iterator(); ++it, ++steps) {
      long long x = std::stoll((*it)[1]), y = std::stoll((*it)[3]), z = std::stoll((*it)[7]);
      char op = (*it)[2].str()[0];
      long long want = op == '+' ? x + y : op == '-' ? x - y : x * y;
      EXPECT_EQ(z, want) << a[i].solution_raw;
      EXPECT_GE(z, 0);
      if (last >= 0) EXPECT_EQ(x, last);
      last = z;
    }
    EXPECT_GE(steps, 1);
    EXPECT_LE(steps, 3);
    EXPECT_EQ(std::to_string(last), a[i].answer);
    const std::regex num("\\d+");
    for (auto it = std::sregex_iterator(a[i].question.begin(), a[i].question.end(), num);
         it != std::sregex_iterator(); ++it)
      EXPECT_LE(std::stoll(it->str()), 9) << a[i].question;
  }
  EXPECT_NE(synth_problems(5, 12, o, Split::kTrain)[0].question + synth_problems(5, 12, o, Split::kTrain)[1].question,
            a[0].question + a[1].question);
  EXPECT_THROW(synth_problems(1, 0, SynthOptions{3, 2}, Split::kTrain), Error);
}

TEST(Synth, SplitsAreDisjoint) {
  SynthOptions o;
  auto tr = synth_problems(3000, 1, o, Split::kTrain);
  auto te = synth_problems(1000, 1, o, Split::kTest);
  std::set<std::string> trq;
  for (auto& p : tr) trq.insert(p.question);
  for (auto& p : te) EXPECT_EQ(trq.count(p.question), 0u) << p.question;
  // Disjoint as arithmetic too: the same numbers and operations never cross splits.
  const std::regex step("(\\d+[-+*]\\d+)=<<");
  auto skel = [&step](const Problem& p) {
    std::string s;
    for (auto it = std::sregex_iterator(p.solution_raw.begin(), p.solution_raw.end(), step);
         it != std::sregex_iterator(); ++it)
      s += (*it)[1].str() + ";";
    return s;
  };
  std::set<std::string> trs;
  for (auto& p : tr) trs.insert(skel(p));
  for (auto& p : te) EXPECT_EQ(trs.count(skel(p)), 0u) << p.question;
}

// ---- CLI ----

TEST(DataCli, SynthAndShow) {
  auto r1 = test::run_cmd(test::rlvr_bin() + " data synth --n 4 --seed 5 --steps 2..2");
  auto r2 = test::run_cmd(test::rlvr_bin() + " data synth --n 4 --seed 5 --steps 2..2");
  ASSERT_EQ(r1.status, 0) << r1.err;
  EXPECT_EQ(r1.out, r2.out);
  std::string dir = test::scratch_dir("data_cli");
  std::ofstream(dir + "/synth.jsonl") << r1.out;
  auto ps = load_problems(dir + "/synth.jsonl", {});
  ASSERT_EQ(ps.size(), 4u);
  for (auto& p : ps) EXPECT_EQ(std::count(p.solution_raw.begin(), p.solution_raw.end(), '\n'), 2);
  auto show = test::run_cmd(test::rlvr_bin() + " data show --data " + gsm8k("test.jsonl") +
                            " --fewshot-data " + gsm8k("train.jsonl") + " --shots 8 --index 2");
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_EQ(show.out, PromptBuilder(train(), {}).build(testset()[2]).full());
  auto bad = test::run_cmd(test::rlvr_bin() + " data synth --steps x");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--steps"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace rlvr

TEST(Files, RemoveTreeRemovesNestedDirsFilesAndLinksButNotLinkTargets) {
  const std::string root = rlvr::test::scratch_dir("remove_tree");
  const std::string keep = rlvr::join_path(root, "keep.txt");
  rlvr::write_text_file(keep, "x");
  const std::string t = rlvr::join_path(root, "tree");
  rlvr::make_dirs(rlvr::join_path(t, "a/b/c"));
  rlvr::write_text_file(rlvr::join_path(t, "a/b/c/f.txt"), "y");
  rlvr::write_text_file(rlvr::join_path(t, "g.txt"), "z");
  ASSERT_EQ(::symlink(keep.c_str(), rlvr::join_path(t, "a/link").c_str()), 0);
  rlvr::remove_tree(t);
  EXPECT_FALSE(rlvr::file_exists(t));
  EXPECT_TRUE(rlvr::file_exists(keep));  // the link went, not what it pointed to
  rlvr::remove_tree(t);                  // missing: not an error
  rlvr::remove_tree(keep);               // a plain file
  EXPECT_FALSE(rlvr::file_exists(keep));
}

TEST(Files, PosixPathHelpersBehaveLikeTheShell) {
  EXPECT_EQ(rlvr::join_path("a", "b"), "a/b");
  EXPECT_EQ(rlvr::join_path("a/", "b"), "a/b");
  EXPECT_EQ(rlvr::join_path("a", "/abs"), "/abs");
  EXPECT_EQ(rlvr::join_path("", "b"), "b");
  EXPECT_EQ(rlvr::parent_dir("/x/y/z.json"), "/x/y");
  EXPECT_EQ(rlvr::parent_dir("/x/y/"), "/x");
  EXPECT_EQ(rlvr::parent_dir("z.json"), "");
  EXPECT_EQ(rlvr::parent_dir("/z"), "/");
  EXPECT_EQ(rlvr::base_name("/x/run-1/"), "run-1");
  EXPECT_EQ(rlvr::base_name("f.txt"), "f.txt");

  const std::string root = rlvr::test::scratch_dir("posix_helpers");
  const std::string d = rlvr::join_path(root, "p/q/r");
  rlvr::make_dirs(d);
  rlvr::make_dirs(d);  // existing: fine
  EXPECT_TRUE(rlvr::is_directory(d));
  const std::string f = rlvr::join_path(root, "p/file");
  rlvr::write_text_file(f, "first");
  EXPECT_THROW(rlvr::make_dirs(rlvr::join_path(f, "sub")), rlvr::Error);  // a file is in the way
  EXPECT_FALSE(rlvr::is_directory(f));
  rlvr::copy_file(f, rlvr::join_path(root, "p/copy"));
  rlvr::write_text_file(f, "second, longer");
  rlvr::copy_file(f, rlvr::join_path(root, "p/copy"));  // overwrites whole
  EXPECT_EQ(rlvr::read_text_file(rlvr::join_path(root, "p/copy")), "second, longer");
  EXPECT_THROW(rlvr::copy_file(rlvr::join_path(root, "missing"), f), rlvr::Error);
  EXPECT_EQ(rlvr::list_dir(rlvr::join_path(root, "p")), (std::vector<std::string>{"copy", "file", "q"}));
  EXPECT_THROW(rlvr::list_dir(rlvr::join_path(root, "missing")), rlvr::Error);
  rlvr::rename_path(rlvr::join_path(root, "p/q"), rlvr::join_path(root, "p/q2"));
  EXPECT_TRUE(rlvr::is_directory(rlvr::join_path(root, "p/q2/r")));
  EXPECT_FALSE(rlvr::file_exists(rlvr::join_path(root, "p/q")));
}

TEST(Dataset, WrittenGsm8kJsonlLoadsBackUnchanged) {
  const std::string path = rlvr::join_path(rlvr::test::scratch_dir("gsm8k_write"), "p.jsonl");
  const auto ps = rlvr::synth_problems(20, 3, rlvr::SynthOptions{}, rlvr::Split::kTrain);
  rlvr::write_gsm8k_jsonl(path, ps);
  const auto back = rlvr::load_problems(path, rlvr::DataOptions{});
  ASSERT_EQ(back.size(), ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(back[i].question, ps[i].question);
    EXPECT_EQ(back[i].solution_raw, ps[i].solution_raw);
    EXPECT_EQ(back[i].answer, ps[i].answer);
  }
}

namespace rlvr {
namespace {

std::string code_tasks() { return std::string(RLVR_SOURCE_DIR) + "/data/code-tasks/train.jsonl"; }

}  // namespace

// Problem::row keeps the whole line (every field reaches the rewards), for both formats and for
// synthetic problems; a code task (tests or test_cases) needs no answer field, any other row still
// does.
TEST(Dataset, RowsKeepEveryFieldAndCodeTasksNeedNoAnswer) {
  const std::string path = write_file("rows.jsonl",
                                      "{\"question\": \"q1\", \"answer\": \"a\\n#### 1\", \"level\": 3}\n"
                                      "{\"prompt\": \"Write f()\", \"tests\": [\"assert f() == 1\"], \"language\": \"python\"}\n"
                                      "{\"prompt\": \"Echo\", \"test_cases\": [{\"input\": \"a\\n\", \"output\": \"a\\n\"}]}\n");
  for (DataFormat fmt : {DataFormat::kAuto, DataFormat::kGsm8k, DataFormat::kJsonl}) {
    DataOptions o;
    o.format = fmt;
    const auto ps = load_problems(path, o);
    ASSERT_EQ(ps.size(), 3u);
    EXPECT_EQ(problem_fields(ps[0]).at("level"), 3);
    EXPECT_EQ(problem_fields(ps[0]).at("answer"), "a\n#### 1");
    EXPECT_EQ(ps[1].question, "Write f()");
    EXPECT_EQ(ps[1].answer, "");
    EXPECT_EQ(problem_fields(ps[1]).at("tests"), nlohmann::json::array({"assert f() == 1"}));
    EXPECT_EQ(problem_fields(ps[2]).at("test_cases")[0].at("output"), "a\n");
  }
  EXPECT_EQ(problem_fields(Problem{}), nlohmann::json::object());
  const Problem s = synth_problems(1, 3, SynthOptions{}, Split::kTrain)[0];
  EXPECT_EQ(problem_fields(s).at("answer"), s.solution_raw);
  const std::string no_answer = write_file("noanswer.jsonl", "{\"prompt\": \"Write f()\", \"language\": \"python\"}\n");
  EXPECT_NE(error_of([&] { load_problems(no_answer, {}); }).find("missing field \"answer\""), std::string::npos);
  // The project's code tasks: about 30 functions with 3+ asserts and a few stdin/stdout tasks.
  const auto tasks = load_problems(code_tasks(), {});
  int64_t with_tests = 0, with_cases = 0;
  for (const auto& t : tasks) {
    const auto f = problem_fields(t);
    with_tests += f.contains("tests") && f["tests"].size() >= 3;
    with_cases += f.contains("test_cases") && f["test_cases"].size() >= 3;
  }
  EXPECT_GE(with_tests, 30);
  EXPECT_GE(with_cases, 4);
  EXPECT_EQ(with_tests + with_cases, static_cast<int64_t>(tasks.size()));
}

// The code prompt style: zero shots, the row's text and an instruction to answer in one fenced
// block of the row's language; no `..` fix and no stop strings. `rlvr data show` prints it.
TEST(Prompt, CodeStyleAsksForOneFencedBlockInTheRowsLanguage) {
  EXPECT_EQ(parse_prompt_style("code"), PromptStyle::kCode);
  EXPECT_EQ(prompt_style_name(parse_prompt_style("gsm8k")), std::string("gsm8k"));
  EXPECT_NE(error_of([] { parse_prompt_style("chatml"); }).find("use gsm8k, code or chat"), std::string::npos);
  const PromptOptions code = prompt_style_options(PromptStyle::kCode);
  EXPECT_EQ(code.shots, 0);
  EXPECT_TRUE(code.stop.empty());
  const std::string path = write_file("code_rows.jsonl",
                                      "{\"prompt\": \"Sum 1..n.\", \"tests\": [\"assert s(1) == 1\"]}\n"
                                      "{\"prompt\": \"Read n.\", \"test_cases\": [], \"language\": \"cpp\"}\n");
  const auto ps = load_problems(path, {});
  PromptBuilder b({}, code);
  EXPECT_EQ(b.build(ps[0]).prefix, "");
  EXPECT_EQ(b.build(ps[0]).full(), "Sum 1..n.\n\nGive the complete solution in one ```python code block.\n");
  EXPECT_EQ(b.build(ps[1]).full(), "Read n.\n\nGive the complete solution in one ```cpp code block.\n");
  EXPECT_EQ(PromptOptions().query_template, prompt_style_options(PromptStyle::kGsm8k).query_template);

  auto show = test::run_cmd(test::rlvr_bin() + " data show --data " + code_tasks() + " --prompt-style code --index 2");
  ASSERT_EQ(show.status, 0) << show.err;
  const auto tasks = load_problems(code_tasks(), {});
  EXPECT_EQ(show.out, tasks[2].question + "\n\nGive the complete solution in one ```python code block.\n");
  auto refused = test::run_cmd(test::rlvr_bin() + " data show --data " + code_tasks() + " --prompt-style code --shots 2");
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("--prompt-style code takes no exemplars"), std::string::npos) << refused.err;
}

// ---- chat prompts (issue 19) ----

namespace {

std::string qwen_dir() { return test::shared_data() + "/qwen-tokenizer"; }  // Qwen2.5 Instruct

std::shared_ptr<const ChatTemplate> qwen_template() {
  static const auto t = std::make_shared<const ChatTemplate>(ChatTemplate::load(qwen_dir()));
  return t;
}

ChatTemplate::json turn(const std::string& role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

std::string render(const ChatTemplate::json& messages, bool add_generation_prompt) {
  ChatTemplate::Chat c;
  c.messages = messages;
  c.add_generation_prompt = add_generation_prompt;
  return qwen_template()->render(c);
}

}  // namespace

// A row whose prompt is a list of messages (TRL conversational) keeps them; its question is the
// last message's text. It renders with the chat template in any style, without exemplars.
TEST(Prompt, ConversationalRowsRenderWithTheChatTemplate) {
  const std::string path = write_file("conv.jsonl",
      "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"2+2?\"}], "
      "\"answer\": \"4\"}\n{\"prompt\": \"plain\", \"answer\": \"1\"}\n");
  const auto ps = load_problems(path, {});
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].question, "2+2?");
  EXPECT_EQ(ps[0].answer, "4");
  EXPECT_EQ(ChatTemplate::json::parse(ps[0].messages).size(), 2u);
  EXPECT_EQ(ps[1].messages, "");
  PromptOptions o;
  o.shots = 0;
  EXPECT_TRUE(needs_chat_template(o, ps));
  EXPECT_FALSE(needs_chat_template(o, {ps[1]}));
  EXPECT_NE(error_of([&] { PromptBuilder({}, o).build(ps[0]); }).find("chat template"), std::string::npos);
  load_chat_template(&o, ps, qwen_dir());
  const PromptParts parts = PromptBuilder({}, o).build(ps[0]);
  EXPECT_EQ(parts.prefix, "");
  EXPECT_EQ(parts.suffix, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                          "<|im_start|>assistant\n");
  o.shots = 1;
  EXPECT_NE(error_of([&] { PromptBuilder(train(), o).build(ps[0]); }).find("set the shots to 0"), std::string::npos);
  const std::string bad = write_file("conv_bad.jsonl", "{\"prompt\": [\"hi\"], \"answer\": \"1\"}\n");
  EXPECT_NE(error_of([&] { load_problems(bad, {}); }).find("conv_bad.jsonl:1: field \"prompt\" is a list"),
            std::string::npos);
  const std::string missing = test::scratch_dir("data_no_template");
  EXPECT_NE(error_of([&] { PromptOptions n; load_chat_template(&n, ps, missing); }).find("list of messages"),
            std::string::npos);
}

// The chat style: [system], the k exemplars as user/assistant turns, the question; rendered by the
// model's template. The shared part (system + exemplars) is the prefix, rendered once, and it is a
// prefix of every prompt in text and in tokens for the Qwen2.5 template.
TEST(Prompt, ChatStyleSharesTheSystemAndExemplarTurnsAsPrefix) {
  EXPECT_EQ(parse_prompt_style("chat"), PromptStyle::kChat);
  EXPECT_EQ(prompt_style_name(PromptStyle::kChat), std::string("chat"));
  PromptOptions o = prompt_style_options(PromptStyle::kChat);
  EXPECT_TRUE(o.chat);
  EXPECT_TRUE(o.stop.empty());
  o.shots = 2;
  o.system_prompt = "Solve it.";
  load_chat_template(&o, {}, qwen_dir());
  const PromptBuilder b(train(), o);
  const std::vector<int64_t> ex = b.exemplars_for(testset()[0]);
  ChatTemplate::json m = ChatTemplate::json::array({turn("system", "Solve it.")});
  for (int64_t i : ex) {
    m.push_back(turn("user", train()[i].question));
    m.push_back(turn("assistant", render_template("{solution}.\n#### The final answer is {answer}", train()[i], true)));
  }
  const std::string prefix = render(m, false);
  m.push_back(turn("user", testset()[0].question));
  const Tokenizer tok = Tokenizer::load(qwen_dir());
  for (int k = 0; k < 3; ++k) {
    const PromptParts parts = b.build(testset()[k]);
    EXPECT_EQ(parts.prefix, prefix);
    EXPECT_FALSE(parts.prefix.empty());
    const std::vector<int32_t> full = tok.encode(parts.full()), pre = tok.encode(parts.prefix);
    ASSERT_LT(pre.size(), full.size());
    EXPECT_TRUE(std::equal(pre.begin(), pre.end(), full.begin())) << k;
  }
  EXPECT_EQ(b.build(testset()[0]).full(), render(m, true));
  // GSM8K train problem 0's reply: its joined reasoning lines, `..` fixed, then the answer line.
  EXPECT_EQ(reference_completion(train()[0], o),
            "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May.\n"
            "#### The final answer is 72");
}

// A template that renders the shared turns differently inside the whole conversation gets no
// shared prefix: the prompt goes whole (a template that numbers the turns from the end; Qwen3's,
// which writes an empty think block only into the last assistant turn).
TEST(Prompt, ChatPrefixIsDroppedWhenTheTemplateRewritesEarlierTurns) {
  PromptOptions o = prompt_style_options(PromptStyle::kChat);
  o.shots = 1;
  o.chat_template = std::make_shared<const ChatTemplate>(
      "{% for m in messages %}[{{ messages|length - loop.index }}]{{ m.content }}{% endfor %}", "countdown");
  const PromptParts parts = PromptBuilder(train(), o).build(testset()[0]);
  EXPECT_EQ(parts.prefix, "");
  EXPECT_EQ(parts.suffix.substr(0, 3), "[2]");
  const auto templates = ChatTemplate::json::parse(
      read_text_file(test::shared_data() + "/chat-templates/templates.json"))["templates"];
  ASSERT_EQ(templates[2]["model"], "Qwen/Qwen3-0.6B");
  o.chat_template = std::make_shared<const ChatTemplate>(templates[2]["template"].get<std::string>(), "qwen3",
                                                         templates[2]["special_tokens"]);
  const PromptParts qwen3 = PromptBuilder(train(), o).build(testset()[0]);
  EXPECT_EQ(qwen3.prefix, "");
  EXPECT_EQ(qwen3.suffix.rfind("<|im_start|>user\n", 0), 0u) << qwen3.suffix;
}

// `rlvr data show --chat` prints the chat prompt of a test problem, rendered with the template
// of --tokenizer's folder.
TEST(DataCli, ShowChatRendersTheTemplate) {
  auto show = test::run_cmd(test::rlvr_bin() + " data show --data " + gsm8k("test.jsonl") + " --chat --shots 0 " +
                            "--system-prompt 'Reason step by step.' --tokenizer " + qwen_dir() + " --index 0");
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_EQ(show.out, render({turn("system", "Reason step by step."), turn("user", testset()[0].question)}, true));
  auto no_tok = test::run_cmd(test::rlvr_bin() + " data show --data " + gsm8k("test.jsonl") + " --chat --shots 0");
  EXPECT_NE(no_tok.status, 0);
  EXPECT_NE(no_tok.err.find("give --tokenizer"), std::string::npos) << no_tok.err;
}

}  // namespace rlvr
