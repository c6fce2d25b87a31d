// Batcher: a data-parallel rank's part of a batch, against the whole batch it comes from.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loraft/core/error.h"
#include "loraft/data/batcher.h"

namespace loraft::data {
namespace {

// 37 rows; row i has 2 + i % 9 tokens, all equal to i + 1, and label i % 4.
TokenRows rows() {
  TokenRows r;
  r.offsets.push_back(0);
  for (std::int32_t i = 0; i < 37; ++i) r.push_back(std::vector<std::int32_t>(2 + i % 9, i + 1), i % 4);
  return r;
}

TEST(Batcher, PartsOfABatchAreItsRowsSplitInOrderAndPaddedOnTheirOwn) {
  const TokenRows r = rows();
  BatchOptions o;
  o.batch_size = 16;
  o.shuffle = true;
  o.seed = 7;
  Batcher batcher(r, o);
  ASSERT_EQ(batcher.num_batches(), 3);  // 16, 16, 5
  for (std::int64_t epoch : {0, 1})
    for (std::int64_t b = 0; b < batcher.num_batches(); ++b)
      for (std::int64_t parts : {1, 2, 3}) {
        SCOPED_TRACE("epoch " + std::to_string(epoch) + " batch " + std::to_string(b) + " parts " + std::to_string(parts));
        const Batch whole = batcher.batch(epoch, b);
        std::vector<std::int64_t> joined;
        for (std::int64_t p = 0; p < parts; ++p) {
          const Batch part = batcher.part(epoch, b, p, parts);
          EXPECT_EQ(part.whole_rows, static_cast<std::int64_t>(whole.rows.size()));
          EXPECT_EQ(part.epoch, epoch);
          EXPECT_EQ(part.position, b * 16 + static_cast<std::int64_t>(joined.size()));
          std::int64_t longest = 0;
          for (std::size_t i = 0; i < part.rows.size(); ++i) {
            longest = std::max(longest, r.length(part.rows[i]));
            EXPECT_EQ(part.labels[static_cast<std::int64_t>(i)].item<std::int64_t>(), r.labels[part.rows[i]]);
          }
          EXPECT_EQ(part.input_ids.size(1), longest);
          joined.insert(joined.end(), part.rows.begin(), part.rows.end());
        }
        EXPECT_EQ(joined, whole.rows);
      }
  // The 5-row batch in 3 parts: 1, 2 and 2 rows; in 8 parts some parts are empty.
  EXPECT_EQ(batcher.part(0, 2, 0, 3).rows.size(), 1u);
  EXPECT_EQ(batcher.part(0, 2, 0, 8).rows.size(), 0u);
  EXPECT_EQ(batcher.part(0, 2, 0, 8).labels.size(0), 0);
  EXPECT_THROW(batcher.part(0, 0, 2, 2), ConfigError);
  EXPECT_THROW(batcher.part(0, 0, 0, 0), ConfigError);
}

}  // namespace
}  // namespace loraft::data
