// fig1_imdb: the report's figure 1. Full fine-tuning vs LoRA on IMDB: training time,
// trainable parameters, evaluation loss and accuracy per epoch, over the profile's seeds.
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig1_imdb", "Figure 1: full fine-tuning vs LoRA on IMDB.",
                         [](paper::Study& s) {
                           const auto& p = s.profile();
                           paper::compare_methods(s, "imdb",
                                                  {{"full", p.config(train::Method::full, 0)},
                                                   {"LoRA", p.config(train::Method::lora, 0)}},
                                                  "IMDB: full fine-tuning vs LoRA");
                         });
}
