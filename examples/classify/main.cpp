// Loads a Hugging Face DistilBERT checkpoint folder, puts LoRA into it and prints the
// logits of one batch and PEFT's trainable-parameter line:
//   classify <checkpoint folder> [<adapter folder>]
#include <iostream>

#include "loraft/adapter/lora.h"
#include "loraft/adapter/peft_io.h"
#include "loraft/core/error.h"
#include "loraft/core/threads.h"
#include "loraft/model/pretrained.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: classify <checkpoint folder> [<adapter folder>]\n";
    return 2;
  }
  try {
    loraft::configure_threads();
    auto model = loraft::model::load_sequence_classification(argv[1]);
    model->eval();
    loraft::adapter::LoraConfig config;  // r=8, alpha=32, dropout=0.1 on q_lin and v_lin
    if (argc > 2)
      config = loraft::adapter::load_adapter(argv[2], *model);
    else
      loraft::adapter::apply_lora(*model, config, /*seed=*/0);
    std::cout << loraft::adapter::peft_parameter_counts(*model, config).line() << "\n";
    torch::Tensor ids = torch::tensor({{2, 40, 41, 3}}, torch::kInt64);
    torch::NoGradGuard no_grad;
    std::cout << model->forward(ids, torch::ones_like(ids)) << "\n";
  } catch (const loraft::Error& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
