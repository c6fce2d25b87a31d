// fig6_loraplus: the report's figure 6. LoRA vs LoRA+ (lr(B) = ratio x lr(A), the profile's
// ratio, 2 in the report) on IMDB: training time, trainable parameters, evaluation loss and
// accuracy per epoch, over the profile's seeds.
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig6_loraplus", "Figure 6: LoRA vs LoRA+ on IMDB.",
                         [](paper::Study& s) {
                           const auto& p = s.profile();
                           paper::compare_methods(s, "imdb",
                                                  {{"LoRA", p.config(train::Method::lora, 0)},
                                                   {"LoRA+", p.config(train::Method::loraplus, 0)}},
                                                  "IMDB: LoRA vs LoRA+ (ratio " +
                                                      paper::cell(p.base.loraplus_ratio) + ")");
                         });
}
