// fig2_agnews: the report's figure 2. Full fine-tuning vs LoRA on AG News: training time,
// trainable parameters, evaluation loss and accuracy per epoch, over the profile's seeds.
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig2_agnews", "Figure 2: full fine-tuning vs LoRA on AG News.",
                         [](paper::Study& s) {
                           const auto& p = s.profile();
                           paper::compare_methods(s, "ag_news",
                                                  {{"full", p.config(train::Method::full, 0)},
                                                   {"LoRA", p.config(train::Method::lora, 0)}},
                                                  "AG News: full fine-tuning vs LoRA");
                         });
}
