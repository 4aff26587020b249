// The one prompt-request builder (engine/prompt_request.h): prompts are their whole text's ids, a
// few-shot block becomes the engine's shared prefix only for prompts whose ids begin with it, cut
// prompts go whole, and generating through the groups gives every prompt exactly the completions
// it gets alone, also when a slice of the prompts runs on their global random streams.
#include <gtest/gtest.h>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/engine/prompt_request.h"
#include "rlvr/model/qwen2.h"
#include "testlib.h"
#include "tiny_qwen2.h"

using namespace rlvr;

namespace {

Tokenizer byte_tokenizer() {
  const std::string dir = test::scratch_dir("prompt_request_tok");
  write_byte_level_tokenizer(dir);
  return Tokenizer::load(dir);
}

std::vector<int64_t> ids_of(const Tokenizer& tok, const std::string& s) {
  const auto v = tok.encode(s);
  return {v.begin(), v.end()};
}

}  // namespace

TEST(PromptRequest, GroupsByFewShotBlockAndKeepsWholePromptIds) {
  const Tokenizer tok = byte_tokenizer();
  // Two prompts share block A, one has block B (as a problem that is itself an exemplar does),
  // one has none.
  const std::vector<PromptParts> parts = {{"A1 A2\n\n", "Q: 3?"}, {"B1\n\n", "Q: 4?"}, {"A1 A2\n\n", "Q: 5?"},
                                          {"", "Q: 6?"}};
  const PromptIds ids = tokenize_prompts(tok, parts);
  ASSERT_EQ(ids.full.size(), 4u);
  for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(ids.full[i], ids_of(tok, parts[i].full())) << i;
  ASSERT_EQ(ids.groups.size(), 3u);
  EXPECT_EQ(ids.groups[0].shared_prefix, ids_of(tok, "A1 A2\n\n"));
  EXPECT_EQ(ids.groups[0].members, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(ids.groups[1].shared_prefix, ids_of(tok, "B1\n\n"));
  EXPECT_EQ(ids.groups[1].members, (std::vector<int64_t>{1}));
  EXPECT_TRUE(ids.groups[2].shared_prefix.empty());
  EXPECT_FALSE(ids.truncated);
  // Cut to the last 6 tokens (TRL keeps the right end): no prompt keeps its block.
  const PromptIds cut = tokenize_prompts(tok, parts, 6);
  EXPECT_TRUE(cut.truncated);
  ASSERT_EQ(cut.groups.size(), 1u);
  EXPECT_TRUE(cut.groups[0].shared_prefix.empty());
  const auto whole = ids_of(tok, parts[0].full());
  EXPECT_EQ(cut.full[0], std::vector<int64_t>(whole.end() - 6, whole.end()));
}

TEST(PromptRequest, GroupedGenerationEqualsEachPromptAlone) {
  const Tokenizer tok = byte_tokenizer();
  CausalLM m = make_random_model(test::tiny_qwen2_config(259), 4);
  m->eval();
  Engine engine(m);
  const std::vector<PromptParts> parts = {{"xy\n\n", "ab"}, {"zz\n\n", "cd"}, {"xy\n\n", "efg"}};
  const PromptIds ids = tokenize_prompts(tok, parts);
  ASSERT_EQ(ids.groups.size(), 2u);
  GenerateRequest base;
  base.n = 2;
  base.max_new_tokens = 6;
  base.sampling.temperature = 1.0;
  base.seed = 9;
  for (int64_t wave : {0, 1}) {
    const auto got = generate_prompts(engine, ids, base, wave);
    ASSERT_EQ(got.size(), 6u);
    for (int64_t p = 0; p < 3; ++p) {
      GenerateRequest alone = base;  // the whole prompt, no shared prefix, the same random stream
      alone.prompts = {ids.full[p]};
      alone.stream_ids = {p};
      const auto ref = engine.generate(alone);
      for (int64_t k = 0; k < 2; ++k) {
        EXPECT_EQ(got[p * 2 + k].prompt_index, p);
        EXPECT_EQ(got[p * 2 + k].completion_index, k);
        EXPECT_EQ(got[p * 2 + k].ids, ref[k].ids) << "wave " << wave << " prompt " << p << " sample " << k;
      }
    }
  }
}

TEST(PromptRequest, SliceOnGlobalStreamsEqualsTheWholeSet) {
  const Tokenizer tok = byte_tokenizer();
  CausalLM m = make_random_model(test::tiny_qwen2_config(259), 4);
  m->eval();
  Engine engine(m);
  const std::vector<PromptParts> parts = {{"xy\n\n", "ab"}, {"zz\n\n", "cd"}, {"xy\n\n", "efg"}};
  const PromptIds ids = tokenize_prompts(tok, parts);
  GenerateRequest base;
  base.n = 2;
  base.max_new_tokens = 6;
  base.sampling.temperature = 1.0;
  base.seed = 9;
  const auto whole = generate_prompts(engine, ids, base);
  // Prompts 1 and 2 of groups {0, 2} and {1}: each group keeps its members in range, renumbered.
  const PromptIds tail = slice_prompts(ids, 1, 3);
  EXPECT_EQ(tail.full, std::vector<std::vector<int64_t>>(ids.full.begin() + 1, ids.full.end()));
  ASSERT_EQ(tail.groups.size(), 2u);
  EXPECT_EQ(tail.groups[0].shared_prefix, ids.groups[0].shared_prefix);
  EXPECT_EQ(tail.groups[0].members, (std::vector<int64_t>{1}));
  EXPECT_EQ(tail.groups[1].members, (std::vector<int64_t>{0}));
  EXPECT_TRUE(slice_prompts(ids, 2, 2).groups.empty());
  EXPECT_THROW(slice_prompts(ids, 2, 4), Error);
  for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}, {2, 3}}) {
    GenerateRequest req = base;  // global indices: the streams the whole set gives these prompts
    for (int64_t i = begin; i < end; ++i) req.stream_ids.push_back(i);
    const auto got = generate_prompts(engine, slice_prompts(ids, begin, end), req);
    ASSERT_EQ(static_cast<int64_t>(got.size()), (end - begin) * 2);
    for (size_t j = 0; j < got.size(); ++j) {
      EXPECT_EQ(got[j].prompt_index, static_cast<int64_t>(j / 2));
      EXPECT_EQ(got[j].ids, whole[begin * 2 + j].ids) << "slice [" << begin << ", " << end << ") row " << j;
    }
  }
  base.stream_ids = {0};  // one stream for three prompts
  EXPECT_THROW(generate_prompts(engine, ids, base), Error);
}
