// loraft-cache: reads data sets (aclImdb folders, AG News CSVs, generic tables; named as
// loraft-train names them), tokenises them with the BERT tokenizer and stores the ids in the
// HDF5 token cache, or finds them there already. One tab-separated line per data set on stdout:
//   dataset  status  rows  tokens  seconds  key  path
// status is `hit` (reused), `built` (new) or `rebuilt` (an unusable file was replaced).

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/app.h"
#include "loraft/core/error.h"
#include "loraft/data/source.h"
#include "loraft/data/token_cache.h"
#include "loraft/text/bert_tokenizer.h"

namespace {

struct Flags {
  std::vector<std::string> data;
  std::vector<std::string> text_columns;
  std::string label_column = "label";
  bool no_header = false;
  std::vector<std::string> label_names;
  long long label_offset = 0;
  long long num_labels = 0;
  std::string vocab = "data/vocab/bert-base-uncased/vocab.txt";
  bool cased = false;
  std::string cache_dir = loraft::data::default_token_cache_folder().string();
  int max_length = 128;
  bool no_truncation = false;
  int threads = 0;
  int deflate = 0;

  void declare(loraft::app::Options& o) {
    o.multiple("data", data,
               "a data set, repeatable: imdb:<root>:<split>, ag_news:<file.csv>, "
               "csv:<file>, tsv:<file> or jsonl:<file>");
    o.multiple("text-column", text_columns,
               "csv/tsv/jsonl text column(s), joined with one space (default: text); without a "
               "header, 0-based indices");
    o.optional("label-column", label_column, "csv/tsv/jsonl label column; empty for unlabelled texts");
    o.flag("no-header", no_header, "csv/tsv files have no header row");
    o.multiple("label-names", label_names, "csv/tsv/jsonl label names, in id order (e.g. neg pos)");
    o.optional("label-offset", label_offset, "csv/tsv/jsonl: subtracted from integer labels (1 for 1-based)");
    o.optional("num-labels", num_labels, "csv/tsv/jsonl: number of classes when no names are given (0: from the data)",
               0LL, 100000LL);
    o.optional("vocab", vocab, "WordPiece vocab.txt of the tokenizer");
    o.flag("cased", cased, "do not lower-case (BertTokenizer do_lower_case=False)");
    o.optional("cache-dir", cache_dir, "folder of the cache files (LORAFT_CACHE_DIR/tokens when set)");
    o.optional("max-length", max_length, "tokens per row, [CLS] and [SEP] included", 1, 1 << 20);
    o.flag("no-truncation", no_truncation, "keep rows longer than --max-length whole");
    o.optional("threads", threads, "encoding threads (0: LORAFT_NUM_THREADS or all cores)", 0, 1024);
    o.optional("deflate", deflate, "gzip level 1-9 for new cache files (0: uncompressed)", 0, 9);
  }
};

int run(Flags& f) {
  if (f.data.empty())
    throw loraft::ConfigError("no data set given", "command line", "--data imdb:<root>:<split>, ag_news:<file.csv>, ...");

  loraft::text::BertTokenizerOptions to;
  to.do_lower_case = !f.cased;
  const auto tokenizer = loraft::text::BertTokenizer::from_file(f.vocab, to);
  loraft::data::TokenCacheOptions co;
  co.folder = f.cache_dir;
  co.max_length = f.max_length;
  co.truncation = !f.no_truncation;
  co.threads = f.threads;
  co.deflate_level = f.deflate;

  // Read everything first: a bad file is reported before any time goes into tokenising.
  std::vector<loraft::data::Dataset> datasets;
  for (const auto& spec : f.data) {
    auto s = loraft::data::parse_dataset_spec(spec, "--data");
    if (!f.text_columns.empty()) s.table.text_columns = f.text_columns;
    s.table.label_column = f.label_column;
    s.table.header = !f.no_header;
    s.table.label_names = f.label_names;
    s.table.label_offset = f.label_offset;
    s.table.num_labels = f.num_labels;
    datasets.push_back(loraft::data::read_dataset(s));
  }

  std::cout << "dataset\tstatus\trows\ttokens\tseconds\tkey\tpath\n";
  for (const auto& d : datasets) {
    const auto r = loraft::data::load_or_build(d, tokenizer, co);
    const char* status = r.hit ? "hit" : (r.rebuilt_because.empty() ? "built" : "rebuilt");
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", r.seconds);
    std::cout << d.name << '\t' << status << '\t' << r.rows.size() << '\t' << r.tokens() << '\t'
              << seconds << '\t' << r.key << '\t' << r.path.string() << '\n'
              << std::flush;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::run<Flags>(
      argc, argv, "loraft-cache",
      "Tokenises data sets into the HDF5 token cache (or finds them there) and prints, per\n"
      "data set: dataset, status (hit/built/rebuilt), rows, tokens, seconds, key, path.",
      run);
}
