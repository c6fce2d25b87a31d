#pragma once
/// @file
/// @brief AG's News Topic Classification CSV reader, giving Hugging Face's `ag_news` rows.

#include <filesystem>

#include "loraft/data/dataset.h"

namespace loraft::data {

/// Reads an AG News CSV (`train.csv` or `test.csv` of `ag_news_csv`): no header, three
/// fields per record, `"class","title","description"`, RFC 4180 quoting with `""`.
///
/// Texts and labels are exactly those of Hugging Face's `ag_news` builder
/// (`fancyzhx/ag_news`; its parquet files were produced by the builder script
/// `datasets/ag_news/ag_news.py` of huggingface/datasets), which reads the same CSV files
/// with `csv.reader(f, quotechar='"', delimiter=",", quoting=csv.QUOTE_ALL,
/// skipinitialspace=True)` and yields `text = " ".join((title, description))`,
/// `label = int(class) - 1`. That script does nothing else to the text: the corpus's
/// artefacts stay as they are, byte for byte: a backslash where a line break was
/// (`dwindling\band`), `\$`, `\\`, two-character `\n`, entities without their `&`
/// (` #39;`, ` quot;`), real `&lt;A HREF...&gt;`. So HF's train[0]["text"] is
/// `Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, Wall
/// Street's dwindling\band of ultra-cynics, are seeing green again.` with one backslash,
/// and so is ours. Rows keep the file's order; Dataset::meta holds `file:line` origins.
///
/// Label names come from `classes.txt` next to the CSV when it exists (one name per line;
/// it then joins the source key), else HF's ["World", "Sports", "Business", "Sci/Tech"].
///
/// Errors (FormatError at `file:line`): unterminated quote, text after a closing quote, a
/// record without exactly three fields (HF's `label, title, description = row` would
/// fail too, empty lines included), a class that is not an integer or outside
/// 1..number of classes, invalid UTF-8 (with its byte offset), an empty file. IoError
/// when the file cannot be read.
Dataset read_ag_news_csv(const std::filesystem::path& path);

}  // namespace loraft::data
