// The MLM pieces against hand-computed examples and the rules of run_mlm.py and
// DataCollatorForLanguageModeling: grouping, the validation split, masking statistics and
// invariants, and the loss on masked positions against a full-logits reference.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>

#include "loraft/core/error.h"
#include "loraft/model/pretrained.h"
#include "loraft/train/mlm.h"
#include "support/test_support.h"

namespace loraft::train {
namespace {

data::TokenRows rows_of(const std::vector<std::vector<std::int32_t>>& texts) {
  data::TokenRows rows;
  for (const auto& t : texts) rows.push_back(t, 0);
  return rows;
}

TEST(GroupTexts, ConcatenatesAndDropsTheRemainderAsRunMlm) {
  // [CLS]=2, [SEP]=3. Concatenation: 2 5 6 3 | 2 7 3 | 2 8 9 10 3 (12 tokens, 3 blocks of 4).
  const auto rows = rows_of({{2, 5, 6, 3}, {2, 7, 3}, {2, 8, 9, 10, 3}});
  MlmBlocks all = group_texts(rows, 4, 0);
  EXPECT_EQ(all.size(), 3);
  EXPECT_EQ(all.ids, (std::vector<std::int32_t>{2, 5, 6, 3, 2, 7, 3, 2, 8, 9, 10, 3}));
  EXPECT_EQ(all.special, (std::vector<std::uint8_t>{1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1}));
  // datasets.map(batched=True, batch_size=2): the remainder goes per map batch.
  MlmBlocks by_two = group_texts(rows, 4, 2);
  EXPECT_EQ(by_two.ids, (std::vector<std::int32_t>{2, 5, 6, 3, 2, 8, 9, 10}));
  EXPECT_EQ(by_two.special, (std::vector<std::uint8_t>{1, 0, 0, 1, 1, 0, 0, 0}));
  // Shorter than one block: nothing (run_mlm returns an empty batch).
  EXPECT_EQ(group_texts(rows_of({{2, 5, 3}}), 4, 0).size(), 0);
  auto [ids, special] = all.tensors({2, 0});
  EXPECT_TRUE(ids.equal(torch::tensor({{8, 9, 10, 3}, {2, 5, 6, 3}}, torch::kInt64)));
  EXPECT_EQ(special.sum().item<std::int64_t>(), 3);
  // A block that is not there is refused by both readers, not read past the end.
  EXPECT_THROW(all.tensors({3}), ConfigError);
  EXPECT_THROW(all.attention_mask({3}), ConfigError);
  EXPECT_THROW(all.attention_mask({-1}), ConfigError);
}

TEST(LineByLine, OneTruncatedPaddedBlockPerTextAsRunMlm) {
  // [CLS]=2, [SEP]=3, [PAD]=0, blocks of 5: [CLS] + at most 3 text tokens + [SEP] + padding.
  const auto rows = rows_of({{2, 5, 6, 3}, {2, 3}, {2, 7, 8, 9, 10, 3}});
  MlmBlocks b = line_by_line(rows, 5, 0);
  ASSERT_EQ(b.size(), 2);  // the empty text is dropped
  EXPECT_EQ(b.ids, (std::vector<std::int32_t>{2, 5, 6, 3, 0, 2, 7, 8, 9, 3}));
  EXPECT_EQ(b.special, (std::vector<std::uint8_t>{1, 0, 0, 1, 1, 1, 0, 0, 0, 1}));
  EXPECT_EQ(b.padding, (std::vector<std::uint8_t>{0, 0, 0, 0, 1, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(b.attention_mask({1, 0}).equal(torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 1, 0}}, torch::kInt64)));
  // Appended to unpadded blocks, the padding of each block keeps its place.
  MlmBlocks mixed = group_texts(rows_of({{2, 5, 6, 7, 3}}), 5, 0);
  EXPECT_TRUE(mixed.padding.empty());
  mixed.append(b);
  EXPECT_TRUE(mixed.attention_mask({0, 1, 2}).equal(
      torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}}, torch::kInt64)));
  EXPECT_THROW(line_by_line(rows_of({{2}}), 5, 0), FormatError);
  EXPECT_THROW(line_by_line(rows, 1, 0), ConfigError);
}

TEST(SplitValidation, FirstPercentAsDatasetsSlices) {
  data::TokenRows rows;
  for (int i = 0; i < 30; ++i) rows.push_back({2, 5 + i, 3}, i);
  // round(5 * 30 / 100) = round(1.5) = 2 (half to even); round(5 * 10 / 100) = round(0.5) = 0.
  auto s = split_validation(rows, 5.0);
  EXPECT_EQ(s.heldout.size(), 2);
  EXPECT_EQ(s.train.size(), 28);
  EXPECT_EQ(s.heldout.labels, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(s.train.labels.front(), 2);
  data::TokenRows ten;
  for (int i = 0; i < 10; ++i) ten.push_back({2, 5, 3}, i);
  EXPECT_EQ(split_validation(ten, 5.0).heldout.size(), 0);
}

TEST(CheckNotTestSplit, RefusesTestSplitsOnly) {
  EXPECT_NO_THROW(check_not_test_split("imdb/train", "--corpus"));
  EXPECT_NO_THROW(check_not_test_split("ag_news/train", "--corpus"));
  EXPECT_NO_THROW(check_not_test_split("imdb/train[100@3]", "--corpus"));
  EXPECT_THROW(check_not_test_split("imdb/test", "--corpus"), ConfigError);
  EXPECT_THROW(check_not_test_split("ag_news/test", "--corpus"), ConfigError);
  EXPECT_THROW(check_not_test_split("imdb/test[500@1]", "--corpus"), ConfigError);
}

// Large random blocks with specials at both ends and inside.
MlmBlocks random_blocks(std::int64_t n, std::int64_t block, std::int32_t vocab) {
  std::mt19937 rng(7);
  data::TokenRows rows;
  std::int64_t tokens = 0;
  while (tokens < n * block) {
    std::vector<std::int32_t> t{2};
    const int len = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < len; ++i) t.push_back(5 + static_cast<std::int32_t>(rng() % (vocab - 5)));
    t.push_back(3);
    tokens += static_cast<std::int64_t>(t.size());
    rows.push_back(t, 0);
  }
  return group_texts(rows, block, 0);
}

TEST(MaskTokens, RatesAndInvariantsOfTheCollator) {
  const std::int32_t vocab = 333;
  MlmBlocks blocks = random_blocks(2000, 64, vocab);
  std::vector<std::int64_t> which(static_cast<std::size_t>(blocks.size()));
  for (std::size_t i = 0; i < which.size(); ++i) which[i] = static_cast<std::int64_t>(i);
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = vocab;
  MaskedBatch b = masked_batch(blocks, which, o, 123, 0);
  auto [ids, special] = blocks.tensors(which);
  const torch::Tensor selected = b.labels.ne(-100);
  // Labels: the original id where selected, -100 elsewhere; specials never selected.
  EXPECT_TRUE(b.labels.masked_select(selected).equal(ids.masked_select(selected)));
  EXPECT_EQ(selected.logical_and(special).sum().item<std::int64_t>(), 0);
  // Unselected positions are untouched.
  EXPECT_TRUE(b.input_ids.masked_select(selected.logical_not()).equal(ids.masked_select(selected.logical_not())));
  const double non_special = static_cast<double>(special.logical_not().sum().item<std::int64_t>());
  const double n_sel = static_cast<double>(selected.sum().item<std::int64_t>());
  EXPECT_NEAR(n_sel / non_special, 0.15, 0.005);
  const double n_mask = static_cast<double>(b.input_ids.eq(4).logical_and(selected).sum().item<std::int64_t>());
  const double n_same = static_cast<double>(b.input_ids.eq(ids).logical_and(selected).sum().item<std::int64_t>());
  const double n_other = n_sel - n_mask - n_same;
  EXPECT_NEAR(n_mask / n_sel, 0.8, 0.01);
  // A random replacement equals the original with probability 1/vocab.
  EXPECT_NEAR(n_same / n_sel, 0.1 + 0.1 / vocab, 0.01);
  EXPECT_NEAR(n_other / n_sel, 0.1 - 0.1 / vocab, 0.01);
  EXPECT_TRUE(b.input_ids.ge(0).all().item<bool>() && b.input_ids.lt(vocab).all().item<bool>());

  // Seeded: the same blocks and seed give the same batch, in any batch composition.
  MaskedBatch again = masked_batch(blocks, {5, 3}, o, 123, 0);
  EXPECT_TRUE(again.input_ids[0].equal(b.input_ids[5]));
  EXPECT_TRUE(again.labels[1].equal(b.labels[3]));
  // Another epoch or seed masks differently.
  EXPECT_FALSE(masked_batch(blocks, {5}, o, 123, 1).labels[0].equal(b.labels[5]));
  EXPECT_FALSE(masked_batch(blocks, {5}, o, 124, 0).labels[0].equal(b.labels[5]));
}

TEST(MaskTokens, PaddingIsNeverSelected) {
  const torch::Tensor ids = torch::full({64, 40}, 9, torch::kInt64);
  torch::Tensor attention = torch::ones({64, 40}, torch::kInt64);
  attention.slice(1, 20, 40).fill_(0);
  torch::Tensor special = torch::zeros({64, 40}, torch::kBool);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = 333;
  MaskedBatch b = mask_tokens(ids, special, attention, o, gen);
  EXPECT_EQ(b.labels.slice(1, 20, 40).ne(-100).sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(b.input_ids.slice(1, 20, 40).eq(9).all().item<bool>());
  EXPECT_GT(b.labels.slice(1, 0, 20).ne(-100).sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(b.attention_mask.equal(attention));
}

TEST(MlmLoss, EqualsTheFullLogitsLossOnTheFixtureModel) {
  auto model = model::load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  model->eval();
  MlmBlocks blocks = random_blocks(6, 32, 333);
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = 333;
  MaskedBatch b = masked_batch(blocks, {0, 1, 2, 3, 4, 5}, o, 9, 0);
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->forward(b.input_ids, b.attention_mask);
  // DistilBertForMaskedLM: CrossEntropyLoss()(logits.view(-1, V), labels.view(-1)).
  const double reference =
      torch::nn::functional::cross_entropy(logits.view({-1, 333}), b.labels.view({-1}),
                                           torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100))
          .item<double>();
  const double ours = mlm_loss(model, b).item<double>();
  EXPECT_NEAR(ours, reference, 1e-5 * std::abs(reference));
  // evaluate_mlm sums the same per-token losses.
  MlmEvalResult ev = evaluate_mlm(model, blocks, 4, o, 9);
  EXPECT_EQ(ev.masked_tokens, b.labels.ne(-100).sum().item<std::int64_t>());
  EXPECT_NEAR(ev.loss, reference, 1e-5 * std::abs(reference));
  EXPECT_NEAR(ev.perplexity, std::exp(reference), 1e-4 * std::exp(reference));
  // A batch without masked positions: zero loss that still backpropagates.
  model->train();
  torch::AutoGradMode grad(true);
  MaskedBatch none = b;
  none.labels = torch::full_like(b.labels, -100);
  torch::Tensor zero = mlm_loss(model, none);
  EXPECT_EQ(zero.item<double>(), 0.0);
  zero.backward();
}

TEST(MlmLoss, PaddedBlocksScoreAsTheUnpaddedText) {
  // A text padded by line_by_line() gives the loss of the same masked text without the
  // padding: padding is never selected and never attended to.
  auto model = model::load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  model->eval();
  std::vector<std::int32_t> text{2};
  for (int i = 0; i < 20; ++i) text.push_back(10 + (i * 37) % 300);
  text.push_back(3);
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = 333;
  MlmBlocks padded = line_by_line(rows_of({text}), 32, 0);
  ASSERT_EQ(line_by_line(rows_of({text}), 22, 0).ids, text);  // fits exactly: kept whole
  MaskedBatch p = masked_batch(padded, {0}, o, 11, 0);
  EXPECT_EQ(p.labels.slice(1, 22, 32).ne(-100).sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(p.attention_mask.slice(1, 22, 32).eq(0).all().item<bool>());
  MaskedBatch e;
  e.input_ids = p.input_ids.slice(1, 0, 22);
  e.labels = p.labels.slice(1, 0, 22);
  e.attention_mask = torch::ones_like(e.input_ids);
  torch::NoGradGuard no_grad;
  const double with_padding = mlm_loss(model, p).item<double>();
  const double without = mlm_loss(model, e).item<double>();
  ASSERT_GT(p.labels.ne(-100).sum().item<std::int64_t>(), 0);
  EXPECT_NEAR(with_padding, without, 1e-5 * std::abs(without));
}

TEST(PretrainingLoss, ClsBagOfWordsScoresTheTextFromTheClsState) {
  // Two padded texts; the reference reads the full logits at position 0 ([CLS]) and scores
  // the texts' own ids, written out here, not recovered from the batch.
  auto model = model::load_masked_lm(testing::fixture("distilbert-tiny-mlm"));
  model->eval();
  const std::vector<std::int32_t> a{2, 11, 12, 11, 40, 3}, b{2, 7, 250, 3};
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = 333;
  MlmBlocks blocks = line_by_line(rows_of({a, b}), 8, 0);
  MaskedBatch batch = masked_batch(blocks, {0, 1}, o, 5, 0);
  EXPECT_TRUE(batch.special_tokens_mask.equal(torch::tensor(
      {{true, false, false, false, false, true, true, true}, {true, false, false, true, true, true, true, true}})));
  torch::NoGradGuard no_grad;
  const torch::Tensor log_p = torch::log_softmax(model->forward(batch.input_ids, batch.attention_mask).select(1, 0), -1);
  auto score = [&](std::int64_t row, const std::vector<std::int32_t>& text) {
    double sum = 0;  // over the words between [CLS] and [SEP], repeats counted
    for (std::size_t i = 1; i + 1 < text.size(); ++i) sum -= log_p[row][text[i]].item<double>();
    return sum / static_cast<double>(text.size() - 2);
  };
  const double reference = (score(0, a) + score(1, b)) / 2;
  const PretrainingLoss terms = pretraining_loss(model, batch, 0.5);
  EXPECT_NEAR(terms.cls_bow.item<double>(), reference, 1e-5 * reference);
  EXPECT_NEAR(terms.mlm.item<double>(), mlm_loss(model, batch).item<double>(), 1e-6);
  EXPECT_NEAR(terms.total.item<double>(), terms.mlm.item<double>() + 0.5 * reference, 1e-5 * reference);
  // Weight 0 is run_mlm's loss alone: no second term at all.
  EXPECT_FALSE(pretraining_loss(model, batch, 0.0).cls_bow.defined());
  // A block without text (all special) is left out of the mean, not counted as 0.
  MaskedBatch e = batch;
  e.special_tokens_mask = batch.special_tokens_mask.clone();
  e.special_tokens_mask[1].fill_(true);
  EXPECT_NEAR(pretraining_loss(model, e, 1.0).cls_bow.item<double>(), score(0, a), 1e-5 * reference);
}

TEST(UnigramBaseline, MatchesAHandCount) {
  // Train: text tokens 5,5,6 (specials ignored); add-one over a vocab of 10: p(5)=3/13, p(6)=2/13.
  MlmBlocks train = group_texts(rows_of({{2, 5, 5, 6, 3}}), 5, 0);
  MlmBlocks heldout = random_blocks(50, 16, 10);
  MaskingOptions o;
  o.mask_token_id = 4;
  o.vocab_size = 10;
  MlmEvalResult r = unigram_baseline(train, heldout, o, 3);
  std::vector<std::int64_t> all(static_cast<std::size_t>(heldout.size()));
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int64_t>(i);
  torch::Tensor labels = masked_batch(heldout, all, o, 3, 0).labels;
  labels = labels.masked_select(labels.ne(-100));
  double sum = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) {
    const auto id = labels[i].item<std::int64_t>();
    sum -= std::log((id == 5 ? 3.0 : id == 6 ? 2.0 : 1.0) / 13.0);
  }
  EXPECT_EQ(r.masked_tokens, labels.numel());
  EXPECT_NEAR(r.loss, sum / static_cast<double>(labels.numel()), 1e-9);
}

}  // namespace
}  // namespace loraft::train
