// loraft-tokenize: JSON lines {"text": ...} on stdin -> {"input_ids": [...], "attention_mask":
// [...]} on stdout, one output line per input line, exactly as Hugging Face's
// BertTokenizer(vocab, do_lower_case=True)(text, truncation=True, max_length=N,
// padding="max_length") encodes them.

#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/app.h"
#include "loraft/core/error.h"
#include "loraft/io/json.h"
#include "loraft/text/bert_tokenizer.h"

namespace {

struct Flags {
  std::string vocab;
  int max_length = 128;
  int threads = 0;
  int batch = 4096;
  void declare(loraft::app::Options& o) {
    o.required("vocab", vocab, "path of the WordPiece vocab.txt (one token per line)");
    o.optional("max-length", max_length, "tokens per row, [CLS] and [SEP] included", 1, 1 << 20);
    o.optional("threads", threads, "encoding threads (0: LORAFT_NUM_THREADS or all cores)", 0, 1024);
    o.optional("batch", batch, "lines encoded together (memory vs. parallelism)", 1, 1 << 24);
  }
};

void append_ints(std::string& out, const char* key, const std::vector<std::int32_t>& v) {
  out += '"';
  out += key;
  out += "\": [";
  char buf[16];
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    auto r = std::to_chars(buf, buf + sizeof buf, v[i]);
    out.append(buf, r.ptr);
  }
  out += ']';
}

int tokenize_stdin(const Flags& f) {
  const auto tok = loraft::text::BertTokenizer::from_file(f.vocab);
  std::ios::sync_with_stdio(false);

  std::vector<std::string> texts;
  std::string line, out;
  long long line_no = 0;
  auto flush = [&] {
    if (texts.empty()) return;
    const auto encodings = tok.encode_batch(texts, f.max_length, true,
                                            loraft::text::Padding::max_length, f.threads);
    out.clear();
    for (const auto& e : encodings) {
      out += '{';
      append_ints(out, "input_ids", e.input_ids);
      out += ", ";
      append_ints(out, "attention_mask", e.attention_mask);
      out += "}\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    texts.clear();
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    // Blank lines carry no object; they are skipped as loraft's JSON-lines reader does.
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = loraft::at_line("stdin", line_no);
    try {
      loraft::io::Json j;
      try {
        j = loraft::io::Json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        throw loraft::FormatError(std::string("invalid JSON line: ") + e.what(), where,
                                  "one object {\"text\": \"...\"} per line");
      }
      if (!j.is_object())
        throw loraft::FormatError("not a JSON object", where, "{\"text\": \"...\"}");
      texts.push_back(loraft::io::get_field<std::string>(j, "text", where));
    } catch (const loraft::Error&) {
      flush();  // the lines before the bad one still get their output
      throw;
    }
    if (texts.size() >= static_cast<std::size_t>(f.batch)) flush();
  }
  flush();
  std::fflush(stdout);
  if (std::ferror(stdout)) throw loraft::IoError("write error", "stdout");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return loraft::app::run<Flags>(
      argc, argv, "loraft-tokenize",
      "Reads JSON lines {\"text\": ...} on stdin and writes {\"input_ids\": [...], "
      "\"attention_mask\": [...]} per line on stdout: Hugging Face BertTokenizer "
      "(do_lower_case=True), truncated and padded to --max-length. A bad line is an error "
      "naming stdin:<line> (exit status 2).",
      tokenize_stdin);
}
